package seal_test

import (
	"bytes"
	"errors"
	"path/filepath"
	"testing"

	"github.com/mtdconnect/mtdconnect/seal"
)

func newSealer(t *testing.T) *seal.Sealer {
	t.Helper()
	h, err := seal.NewKeyset()
	if err != nil {
		t.Fatal(err)
	}
	s, err := seal.New(h)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestSealOpen(t *testing.T) {
	s := newSealer(t)
	secret := []byte("refresh-token-value")
	ad := seal.AD("connection", "1", "itsa", "tokens")
	ct, err := s.Seal(secret, ad)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(ct, secret) {
		t.Fatal("ciphertext contains the plaintext")
	}
	tampered := bytes.Clone(ct)
	tampered[len(tampered)-1] ^= 1

	tests := []struct {
		name string
		ct   []byte
		ad   []byte
		want error
	}{
		{"OK", ct, ad, nil},
		{"OtherUsersRow", ct, seal.AD("connection", "2", "itsa", "tokens"), seal.ErrOpen},
		{"OtherPurpose", ct, seal.AD("connection", "1", "vat", "tokens"), seal.ErrOpen},
		{"Tampered", tampered, ad, seal.ErrOpen},
		{"OtherKey", mustSeal(t, newSealer(t), secret, ad), ad, seal.ErrOpen},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := s.Open(tt.ct, tt.ad)
			if !errors.Is(err, tt.want) {
				t.Fatalf("Open err = %v, want %v", err, tt.want)
			}
			if err == nil && !bytes.Equal(got, secret) {
				t.Fatalf("Open = %q, want %q", got, secret)
			}
		})
	}
}

func mustSeal(t *testing.T, s *seal.Sealer, pt, ad []byte) []byte {
	t.Helper()
	ct, err := s.Seal(pt, ad)
	if err != nil {
		t.Fatal(err)
	}
	return ct
}

func TestKeysetFileRotation(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keys", "keyset.json")
	h, created, err := seal.LoadOrCreateKeysetFile(path)
	if err != nil || !created {
		t.Fatalf("create: created=%v err=%v", created, err)
	}
	old, _ := seal.New(h)
	ad := seal.AD("secret")
	ct := mustSeal(t, old, []byte("s3cret"), ad)

	// Reloading gives the same key; rotating keeps the old key for opening.
	h2, created, err := seal.LoadOrCreateKeysetFile(path)
	if err != nil || created {
		t.Fatalf("reload: created=%v err=%v", created, err)
	}
	rotated, err := seal.Rotate(h2)
	if err != nil {
		t.Fatal(err)
	}
	if err := seal.WriteKeysetFile(path, rotated); err != nil {
		t.Fatal(err)
	}
	h3, err := seal.LoadKeysetFile(path)
	if err != nil {
		t.Fatal(err)
	}
	s3, _ := seal.New(h3)
	if got, err := s3.Open(ct, ad); err != nil || string(got) != "s3cret" {
		t.Fatalf("open with rotated keyset = %q, %v", got, err)
	}
	ct2 := mustSeal(t, s3, []byte("new"), ad)
	if _, err := old.Open(ct2, ad); !errors.Is(err, seal.ErrOpen) {
		t.Fatalf("old keyset opened a ciphertext of the new primary key: %v", err)
	}
}

// TestHasKeyFor: the start tells a keyset that cannot open the database's
// sealed data from the ciphertexts alone; a rotated keyset still holds the
// key of what it sealed before.
func TestHasKeyFor(t *testing.T) {
	h, err := seal.NewKeyset()
	if err != nil {
		t.Fatal(err)
	}
	s, err := seal.New(h)
	if err != nil {
		t.Fatal(err)
	}
	old := mustSeal(t, s, []byte("x"), seal.AD("a"))
	rotated, err := seal.Rotate(h)
	if err != nil {
		t.Fatal(err)
	}
	rs, err := seal.New(rotated)
	if err != nil {
		t.Fatal(err)
	}
	other := mustSeal(t, newSealer(t), []byte("x"), seal.AD("a"))
	tests := []struct {
		name   string
		sealer *seal.Sealer
		ct     []byte
		want   bool
	}{
		{"SameKeyset", s, old, true},
		{"RotatedKeysetOpensOld", rs, old, true},
		{"RotatedKeysetOwn", rs, mustSeal(t, rs, []byte("x"), seal.AD("a")), true},
		{"OtherKeyset", s, other, false},
		{"TooShort", s, []byte{1, 2}, false},
		{"Empty", s, nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.sealer.HasKeyFor(tt.ct); got != tt.want {
				t.Fatalf("HasKeyFor = %v, want %v", got, tt.want)
			}
		})
	}
}
