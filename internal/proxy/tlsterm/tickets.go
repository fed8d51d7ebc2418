package tlsterm

import (
	"bufio"
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"sync/atomic"
)

// Tickets are the keys that encrypt TLS session tickets, shared by every
// listener so that a client resumes wherever it reconnects. The first key
// encrypts new tickets, all of them decrypt: rotating in a new key keeps
// tickets under the previous ones valid for as long as those stay. Keys
// come from a file (shared by several lbds, rotated by whoever writes it)
// or are generated and rotated in memory (Rotate).
//
// Tickets are AES-256-GCM over crypto/tls's serialized session state,
// prefixed with the first 4 bytes of SHA-256 of the key that sealed them,
// through tls.Config's WrapSession and UnwrapSession.
type Tickets struct {
	keys atomic.Pointer[[]ticketKey]
}

type ticketKey struct {
	id   [4]byte
	aead cipher.AEAD
}

// TicketKeySize is the length of a key.
const TicketKeySize = 32

// keep is how many keys rotation keeps (the new one and two before it).
const keep = 3

// NewTickets returns ticket keys starting with one random key.
func NewTickets() *Tickets {
	t := &Tickets{}
	t.Rotate()
	return t
}

// Rotate puts a fresh random key first, keeping the two before it for
// decryption.
func (t *Tickets) Rotate() {
	var k [TicketKeySize]byte
	rand.Read(k[:])
	old := t.current()
	next := []ticketKey{newTicketKey(k[:])}
	next = append(next, old[:min(len(old), keep-1)]...)
	t.keys.Store(&next)
}

// Set replaces the keys: the first encrypts, all decrypt.
func (t *Tickets) Set(keys [][]byte) error {
	if len(keys) == 0 {
		return errors.New("no session ticket key")
	}
	next := make([]ticketKey, 0, len(keys))
	for i, k := range keys {
		if len(k) != TicketKeySize {
			return fmt.Errorf("session ticket key %d: %d bytes, want %d", i+1, len(k), TicketKeySize)
		}
		next = append(next, newTicketKey(k))
	}
	t.keys.Store(&next)
	return nil
}

// ReadTicketKeys reads a key file: one base64 key of 32 bytes per line,
// the one that encrypts first; blank lines and lines starting with # are
// skipped.
func ReadTicketKeys(path string) ([][]byte, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("session ticket keys: %w", err)
	}
	var keys [][]byte
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 || line[0] == '#' {
			continue
		}
		k, err := base64.StdEncoding.DecodeString(string(line))
		if err != nil || len(k) != TicketKeySize {
			return nil, fmt.Errorf("session ticket keys %s:%d: want %d bytes in base64 (openssl rand -base64 %d)", path, n, TicketKeySize, TicketKeySize)
		}
		keys = append(keys, k)
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("session ticket keys %s: no key", path)
	}
	return keys, nil
}

func newTicketKey(k []byte) ticketKey {
	block, err := aes.NewCipher(k)
	if err != nil {
		panic(err) // 32 bytes: cannot fail
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		panic(err)
	}
	sum := sha256.Sum256(k)
	var tk ticketKey
	copy(tk.id[:], sum[:4])
	tk.aead = aead
	return tk
}

func (t *Tickets) current() []ticketKey {
	if p := t.keys.Load(); p != nil {
		return *p
	}
	return nil
}

// attach makes cfg seal and open its tickets with t.
func (t *Tickets) attach(cfg *tls.Config) {
	cfg.WrapSession = t.wrap
	cfg.UnwrapSession = t.unwrap
}

const nonceSize = 12

func (t *Tickets) wrap(_ tls.ConnectionState, ss *tls.SessionState) ([]byte, error) {
	keys := t.current()
	if len(keys) == 0 {
		return nil, errors.New("no session ticket key")
	}
	state, err := ss.Bytes()
	if err != nil {
		return nil, err
	}
	k := keys[0]
	out := make([]byte, 4+nonceSize, 4+nonceSize+len(state)+k.aead.Overhead())
	copy(out, k.id[:])
	rand.Read(out[4 : 4+nonceSize])
	return k.aead.Seal(out, out[4:4+nonceSize], state, k.id[:]), nil
}

// unwrap opens a ticket; one it cannot open (an unknown or retired key,
// or garbage) means a full handshake, not an error.
func (t *Tickets) unwrap(ticket []byte, _ tls.ConnectionState) (*tls.SessionState, error) {
	if len(ticket) < 4+nonceSize {
		return nil, nil
	}
	for _, k := range t.current() {
		if !bytes.Equal(k.id[:], ticket[:4]) {
			continue
		}
		state, err := k.aead.Open(nil, ticket[4:4+nonceSize], ticket[4+nonceSize:], k.id[:])
		if err != nil {
			return nil, nil
		}
		ss, err := tls.ParseSessionState(state)
		if err != nil {
			return nil, nil
		}
		return ss, nil
	}
	return nil, nil
}
