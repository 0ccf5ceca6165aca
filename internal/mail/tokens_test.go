package mail

import (
	"encoding/base64"
	"errors"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestUnsubscribeToken(t *testing.T) {
	key := []byte("nation secret key, 32 bytes long")
	tok := SignUnsubscribe(key, 7, 123456789, 42)
	if url.PathEscape(tok) != tok || url.QueryEscape(tok) != tok {
		t.Fatalf("token %q is not URL-safe", tok)
	}
	if tok != SignUnsubscribe(key, 7, 123456789, 42) {
		t.Fatal("token is not deterministic")
	}
	n, p, b, err := VerifyUnsubscribe(key, tok)
	if err != nil || n != 7 || p != 123456789 || b != 42 {
		t.Fatalf("Verify = %d %d %d %v", n, p, b, err)
	}
	// No id readable in clear, in any encoding.
	raw, _ := base64.RawURLEncoding.DecodeString(tok)
	for _, s := range []string{"123456789", string([]byte{0x07, 0x5b, 0xcd, 0x15})} {
		if strings.Contains(tok, s) || strings.Contains(string(raw), s) {
			t.Errorf("token shows %q", s)
		}
	}
	if SignUnsubscribe(key, 7, 123456790, 42) == tok || SignUnsubscribe(key, 8, 123456789, 42) == tok {
		t.Error("different people share a token")
	}
	// Wrong key, tampering, truncation and junk are refused.
	if _, _, _, err := VerifyUnsubscribe([]byte("other key"), tok); !errors.Is(err, ErrBadToken) {
		t.Error("token verified with another key")
	}
	for i := range len(tok) {
		c := byte('A')
		if tok[i] == 'A' {
			c = 'B'
		}
		bad := tok[:i] + string(c) + tok[i+1:]
		if _, _, _, err := VerifyUnsubscribe(key, bad); err == nil {
			t.Fatalf("tampered token (byte %d) verified", i)
		}
	}
	for _, bad := range []string{"", tok[:54], tok + "A", strings.Repeat("!", 55)} {
		if _, _, _, err := VerifyUnsubscribe(key, bad); err == nil {
			t.Errorf("token %q verified", bad)
		}
	}
}

func TestWebhookSignature(t *testing.T) {
	secret := []byte("whsec")
	body := []byte(`{"type":"bounce","email":"a@example.be"}`)
	now := time.Unix(1_773_000_000, 0)
	h := SignWebhook(secret, body, now)
	if !strings.HasPrefix(h, "t="+strconv.FormatInt(now.Unix(), 10)+",v1=") {
		t.Fatalf("header %q", h)
	}
	if err := VerifyWebhook(secret, body, h, now.Add(time.Minute), 5*time.Minute); err != nil {
		t.Fatalf("valid signature refused: %v", err)
	}
	if err := VerifyWebhook(secret, body, h, now.Add(10*time.Minute), 5*time.Minute); !errors.Is(err, ErrWebhookExpired) {
		t.Errorf("replay after tolerance: %v", err)
	}
	if err := VerifyWebhook(secret, body, h, now.Add(-10*time.Minute), 5*time.Minute); !errors.Is(err, ErrWebhookExpired) {
		t.Errorf("future timestamp: %v", err)
	}
	if err := VerifyWebhook(secret, append(body, ' '), h, now, time.Minute); !errors.Is(err, ErrWebhookSignature) {
		t.Errorf("changed body: %v", err)
	}
	if err := VerifyWebhook([]byte("other"), body, h, now, time.Minute); !errors.Is(err, ErrWebhookSignature) {
		t.Errorf("other secret: %v", err)
	}
	// Moving the timestamp invalidates the MAC.
	moved := strings.Replace(h, "t=1773000000", "t=1773000060", 1)
	if err := VerifyWebhook(secret, body, moved, now, time.Minute*5); !errors.Is(err, ErrWebhookSignature) {
		t.Errorf("moved timestamp: %v", err)
	}
	// Rotation: a header with an old and a new signature passes.
	rot := h + ",v1=" + strings.Split(SignWebhook([]byte("old"), body, now), "v1=")[1]
	if err := VerifyWebhook(secret, body, rot, now, time.Minute); err != nil {
		t.Errorf("rotation header: %v", err)
	}
	for _, bad := range []string{"", "t=x,v1=00", "v1=00", "t=1", "t=1,v1=zz", "garbage"} {
		if err := VerifyWebhook(secret, body, bad, now, time.Minute); !errors.Is(err, ErrWebhookMalformed) {
			t.Errorf("header %q: %v", bad, err)
		}
	}
}
