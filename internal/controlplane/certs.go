package controlplane

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"slices"
	"strings"

	"lbd/internal/certs"
	"lbd/internal/octavia"
	"lbd/internal/octavia/api"
	"lbd/internal/octavia/auth"
)

// Certificate refs of API changes are read before the change is applied,
// as Octavia's API reads them (controllers/base.py _validate_tls_refs and
// _validate_client_ca_and_crl_refs): the caller's token first adds lbd's
// service user to a Barbican secret's read ACL (Options.Grant), then lbd
// reads it through the data plane's certificate store, and a ref that
// cannot be read or holds nothing lbd can serve is answered with Octavia's
// 400. Only listeners and pools whose TLS settings the change touches are
// read.

// checkCerts reads the certificate refs of the listeners and pools of next
// that are new or whose TLS settings differ from cur's.
func (cp *ControlPlane) checkCerts(ctx context.Context, cur, next *octavia.LoadBalancer) error {
	if cp.opts.Certs == nil || next == nil {
		return nil
	}
	for _, l := range next.Listeners {
		var old *octavia.Listener
		if cur != nil {
			old = findListener(cur, l.ID)
		}
		if old != nil && sameListenerTLS(old, l) {
			continue
		}
		refs := slices.Clone(l.SNIContainerRefs)
		if l.DefaultTLSRef != "" {
			refs = append(refs, l.DefaultTLSRef)
		}
		if err := cp.checkTLSRefs(ctx, refs); err != nil {
			return err
		}
		if l.ClientCATLSRef != "" {
			if err := cp.checkCAAndCRL(ctx, l.ClientCATLSRef, l.ClientCRLRef); err != nil {
				return err
			}
		}
	}
	for _, p := range next.Pools {
		var old *octavia.Pool
		if cur != nil {
			old = cur.PoolByID(p.ID)
		}
		if old != nil && old.TLSContainerRef == p.TLSContainerRef && old.CATLSContainerRef == p.CATLSContainerRef && old.CRLContainerRef == p.CRLContainerRef {
			continue
		}
		if p.TLSContainerRef != "" {
			if err := cp.checkTLSRefs(ctx, []string{p.TLSContainerRef}); err != nil {
				return err
			}
		}
		if p.CATLSContainerRef != "" {
			if err := cp.checkCAAndCRL(ctx, p.CATLSContainerRef, p.CRLContainerRef); err != nil {
				return err
			}
		}
	}
	return nil
}

func findListener(lb *octavia.LoadBalancer, id string) *octavia.Listener {
	for _, l := range lb.Listeners {
		if l.ID == id {
			return l
		}
	}
	return nil
}

func sameListenerTLS(a, b *octavia.Listener) bool {
	return a.DefaultTLSRef == b.DefaultTLSRef && slices.Equal(a.SNIContainerRefs, b.SNIContainerRefs) &&
		a.ClientCATLSRef == b.ClientCATLSRef && a.ClientCRLRef == b.ClientCRLRef
}

// read grants lbd access to ref with the caller's token, when it is a
// Barbican ref and lbd has Barbican, and reports whether the caller may
// use it at all: a file ref is for callers without Keystone only (an
// operator's static token or an open loopback API), or any caller could
// make lbd serve any key file lbd can read.
func (cp *ControlPlane) read(ctx context.Context, ref string) error {
	caller := auth.FromContext(ctx)
	if certs.IsFileRef(ref) {
		if !caller.Unrestricted {
			return errors.New("file refs are only taken from the config file or an operator's API")
		}
		return nil
	}
	if cp.opts.Grant != nil && caller.Token != "" {
		return cp.opts.Grant(ctx, caller.Token, ref)
	}
	return nil
}

// checkTLSRefs is _validate_tls_refs: every certificate ref must read as a
// bundle; refs that cannot be retrieved are reported together.
func (cp *ControlPlane) checkTLSRefs(ctx context.Context, refs []string) error {
	var bad []string
	for _, ref := range refs {
		if err := cp.read(ctx, ref); err != nil {
			cp.log.LogAttrs(ctx, slog.LevelWarn, "certificate ref refused", slog.String("ref", ref), slog.String("err", err.Error()))
			bad = append(bad, ref)
			continue
		}
		_, err := cp.opts.Certs.Bundle(ctx, ref)
		var re *certs.RefError
		switch {
		case err == nil:
		case errors.Is(err, certs.ErrPKCS12):
			detail := strings.TrimPrefix(errors.Unwrap(err).Error(), certs.ErrPKCS12.Error()+": ")
			return api.Errorf(http.StatusBadRequest, "The PKCS12 bundle is unreadable. Please check the PKCS12 bundle validity. In addition, make sure it does not require a pass phrase. Error: %s", detail)
		case errors.Is(err, certs.ErrNoNames):
			return api.Errorf(http.StatusBadRequest, "No CN or DNSName(s) found in certificate. The certificate is invalid.")
		case errors.As(err, &re) && re.Retrieval:
			cp.log.LogAttrs(ctx, slog.LevelWarn, "certificate ref unreadable", slog.String("ref", ref), slog.String("err", err.Error()))
			bad = append(bad, ref)
		default:
			// Content Octavia would pass to the amphora, which HAProxy would
			// refuse to load or clients would refuse to trust: said here.
			return api.Invalid("The certificate %s cannot be served: %v", ref, errors.Unwrap(err))
		}
	}
	if len(bad) > 0 {
		return api.Errorf(http.StatusBadRequest, "Could not retrieve certificate: %s", pyList(bad))
	}
	return nil
}

// checkCAAndCRL is _validate_client_ca_and_crl_refs.
func (cp *ControlPlane) checkCAAndCRL(ctx context.Context, caRef, crlRef string) error {
	var bad []string
	if err := cp.read(ctx, caRef); err != nil {
		bad = append(bad, caRef)
	}
	if crlRef != "" {
		if err := cp.read(ctx, crlRef); err != nil {
			bad = append(bad, crlRef)
		}
	}
	if len(bad) > 0 {
		return api.Errorf(http.StatusBadRequest, "Could not retrieve certificate: %s", pyList(bad))
	}
	cas, err := cp.opts.Certs.CAs(ctx, caRef)
	var re *certs.RefError
	switch {
	case errors.As(err, &re) && re.Retrieval:
		bad = append(bad, caRef)
	case err != nil:
		return api.Invalid("The client authentication CA certificate is invalid. It must be a valid x509 PEM format certificate. Error: %v", errors.Unwrap(err))
	}
	if crlRef != "" && cas != nil {
		_, err := cp.opts.Certs.CRL(ctx, crlRef, cas)
		switch {
		case errors.As(err, &re) && re.Retrieval:
			bad = append(bad, crlRef)
		case errors.Is(err, certs.ErrCRLNotSigned):
			return api.Invalid("The CRL specified is not valid for client certificate authority reference supplied.")
		case err != nil:
			return api.Invalid("The client authentication certificate revocation list is invalid. It must be a valid x509 PEM format certificate revocation list. Error: %v", errors.Unwrap(err))
		}
	}
	if len(bad) > 0 {
		return api.Errorf(http.StatusBadRequest, "Could not retrieve certificate: %s", pyList(bad))
	}
	return nil
}
