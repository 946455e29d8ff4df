// Package seal encrypts tokens and secrets at rest with Tink's AEAD. The
// associated data binds each ciphertext to the row it belongs to, so a
// ciphertext copied into another user's row fails to open.
package seal

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/tink-crypto/tink-go/v2/aead"
	"github.com/tink-crypto/tink-go/v2/insecurecleartextkeyset"
	"github.com/tink-crypto/tink-go/v2/keyset"
	tinkpb "github.com/tink-crypto/tink-go/v2/proto/tink_go_proto"
	"github.com/tink-crypto/tink-go/v2/tink"
)

// ErrOpen is returned when a ciphertext cannot be opened: tampered with,
// sealed under another key, or moved to another row.
var ErrOpen = errors.New("seal: cannot open ciphertext")

// Sealer seals and opens byte strings. It is safe for concurrent use.
type Sealer struct {
	aead tink.AEAD
	// prefixes are the ciphertext prefixes of the keyset's enabled keys
	// (a type byte and the key ID); anyRaw is set when a key writes none.
	prefixes map[[5]byte]bool
	anyRaw   bool
}

// New returns a Sealer over the keyset. Its primary key seals; every key in
// it opens, so a rotated keyset still opens what older keys sealed.
func New(h *keyset.Handle) (*Sealer, error) {
	a, err := aead.New(h)
	if err != nil {
		return nil, fmt.Errorf("seal: %w", err)
	}
	s := &Sealer{aead: a, prefixes: map[[5]byte]bool{}}
	for _, k := range h.KeysetInfo().GetKeyInfo() {
		if k.GetStatus() != tinkpb.KeyStatusType_ENABLED {
			continue
		}
		var p [5]byte
		binary.BigEndian.PutUint32(p[1:], k.GetKeyId())
		switch k.GetOutputPrefixType() {
		case tinkpb.OutputPrefixType_TINK:
			p[0] = 1
		case tinkpb.OutputPrefixType_LEGACY, tinkpb.OutputPrefixType_CRUNCHY:
			p[0] = 0
		default:
			s.anyRaw = true
			continue
		}
		s.prefixes[p] = true
	}
	return s, nil
}

// HasKeyFor reports whether the keyset holds the key that sealed
// ciphertext, telling it by the key ID every Tink ciphertext starts with.
// It needs no associated data, so the start can check a sample of what the
// database holds before anything is sealed anew; a keyset with a key that
// writes no ID (RAW) cannot tell, and says yes.
func (s *Sealer) HasKeyFor(ciphertext []byte) bool {
	if s.anyRaw {
		return true
	}
	if len(ciphertext) < 5 {
		return false
	}
	return s.prefixes[[5]byte(ciphertext[:5])]
}

// NewKeyset returns a fresh keyset with one AES-256-GCM key.
func NewKeyset() (*keyset.Handle, error) {
	h, err := keyset.NewHandle(aead.AES256GCMKeyTemplate())
	if err != nil {
		return nil, fmt.Errorf("seal: new keyset: %w", err)
	}
	return h, nil
}

// Rotate adds a new AES-256-GCM key to h and makes it primary. Older keys
// stay, so what they sealed still opens.
func Rotate(h *keyset.Handle) (*keyset.Handle, error) {
	m := keyset.NewManagerFromHandle(h)
	id, err := m.Add(aead.AES256GCMKeyTemplate())
	if err != nil {
		return nil, fmt.Errorf("seal: rotate: %w", err)
	}
	if err := m.SetPrimary(id); err != nil {
		return nil, fmt.Errorf("seal: rotate: %w", err)
	}
	return m.Handle()
}

// LoadKeysetFile reads a cleartext JSON keyset. A cleartext keyset file is
// for local use; production keeps it under a KMS key or a secret store that
// mounts it as a file.
func LoadKeysetFile(path string) (*keyset.Handle, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("seal: read keyset: %w", err)
	}
	h, err := insecurecleartextkeyset.Read(keyset.NewJSONReader(bytes.NewReader(b)))
	if err != nil {
		return nil, fmt.Errorf("seal: parse keyset %s: %w", path, err)
	}
	return h, nil
}

// WriteKeysetFile writes h as cleartext JSON, readable by its owner only.
func WriteKeysetFile(path string, h *keyset.Handle) error {
	var buf bytes.Buffer
	if err := insecurecleartextkeyset.Write(h, keyset.NewJSONWriter(&buf)); err != nil {
		return fmt.Errorf("seal: encode keyset: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("seal: %w", err)
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, buf.Bytes(), 0o600); err != nil {
		return fmt.Errorf("seal: write keyset: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("seal: write keyset: %w", err)
	}
	return nil
}

// LoadOrCreateKeysetFile loads the keyset at path, creating one if the file
// does not exist. created reports whether it did.
func LoadOrCreateKeysetFile(path string) (h *keyset.Handle, created bool, err error) {
	h, err = LoadKeysetFile(path)
	if err == nil {
		return h, false, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return nil, false, err
	}
	if h, err = NewKeyset(); err != nil {
		return nil, false, err
	}
	if err := WriteKeysetFile(path, h); err != nil {
		return nil, false, err
	}
	return h, true, nil
}

// Seal encrypts plaintext bound to the associated data ad.
func (s *Sealer) Seal(plaintext, ad []byte) ([]byte, error) {
	ct, err := s.aead.Encrypt(plaintext, ad)
	if err != nil {
		return nil, fmt.Errorf("seal: %w", err)
	}
	return ct, nil
}

// Open decrypts a ciphertext sealed with the same associated data.
func (s *Sealer) Open(ciphertext, ad []byte) ([]byte, error) {
	pt, err := s.aead.Decrypt(ciphertext, ad)
	if err != nil {
		return nil, ErrOpen
	}
	return pt, nil
}

// AD builds associated data from the parts naming a row and a field, e.g.
// AD("connection", "42", "itsa", "tokens").
func AD(parts ...string) []byte {
	return []byte("mtdconnect/" + strings.Join(parts, "/"))
}
