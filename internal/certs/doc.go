// Package certs reads the certificate material Octavia's container refs
// point at, and checks it the way the amphora would before serving it: a
// server or client certificate with its private key and intermediates (a
// PEM bundle or a PKCS#12 file without a pass phrase, as Octavia's
// Barbican secrets hold them), a CA bundle, a CRL, and an OCSP staple kept
// next to a certificate file.
//
// A ref is a file path or a file:// URL, read on every load so that a
// changed file is picked up on reload, or any other URL (a Barbican
// secret), which a Fetcher given to the Store retrieves; remote material is
// cached by ref, as Barbican secrets never change. Every error names the ref
// and what is wrong with it (*RefError).
//
// It owns parsing and checking only: it builds no tls.Config and serves
// nothing. It must not import any other lbd package nor gophercloud (the
// Barbican Fetcher lives in certs/barbican, which only lbd's main links).
package certs
