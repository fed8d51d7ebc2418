package main

import (
	"context"
	"errors"
	"fmt"

	"lbd/internal/certs"
	"lbd/internal/octavia"
	"lbd/internal/proxy/tlsterm"
)

// checkCertificates reads every certificate ref of the config as the data
// plane will (lbd -check): each problem names the ref and what is wrong
// with it.
func checkCertificates(ctx context.Context, cfg *octavia.Config, store *certs.Store) error {
	var errs []error
	for _, lb := range cfg.LoadBalancers {
		for _, l := range lb.Listeners {
			for _, ref := range append([]string{l.DefaultTLSRef}, l.SNIContainerRefs...) {
				if ref != "" && certs.IsFileRef(ref) {
					if _, err := store.Bundle(ctx, ref); err != nil {
						errs = append(errs, fmt.Errorf("listener %s: %w", l.Name, err))
					}
				}
			}
			errs = append(errs, checkCA(ctx, store, "listener "+l.Name, l.ClientCATLSRef, l.ClientCRLRef)...)
		}
		for _, p := range lb.Pools {
			if ref := p.TLSContainerRef; ref != "" && certs.IsFileRef(ref) {
				if _, err := store.Bundle(ctx, ref); err != nil {
					errs = append(errs, fmt.Errorf("pool %s: %w", p.Name, err))
				}
			}
			errs = append(errs, checkCA(ctx, store, "pool "+p.Name, p.CATLSContainerRef, p.CRLContainerRef)...)
		}
	}
	return errors.Join(errs...)
}

func checkCA(ctx context.Context, store *certs.Store, what, caRef, crlRef string) []error {
	if caRef == "" || !certs.IsFileRef(caRef) {
		return nil
	}
	cas, err := store.CAs(ctx, caRef)
	if err != nil {
		return []error{fmt.Errorf("%s: %w", what, err)}
	}
	if crlRef != "" && certs.IsFileRef(crlRef) {
		if _, err := store.CRL(ctx, crlRef, cas); err != nil {
			return []error{fmt.Errorf("%s: %w", what, err)}
		}
	}
	return nil
}

// loadTicketKeys reads the session ticket key file into t (a new Tickets
// when t is nil).
func loadTicketKeys(path string, t *tlsterm.Tickets) (*tlsterm.Tickets, error) {
	keys, err := tlsterm.ReadTicketKeys(path)
	if err != nil {
		return nil, err
	}
	if t == nil {
		t = &tlsterm.Tickets{}
	}
	if err := t.Set(keys); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return t, nil
}
