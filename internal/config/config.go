// Package config holds Muster's settings: read from command-line flags with
// MUSTER_* environment variables as defaults, validated once, then passed
// down explicitly. No package keeps configuration in globals.
package config

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Config is the validated configuration of one process.
type Config struct {
	// Storage
	DataDir     string // --data, MUSTER_DATA: directory of the embedded SQLite database and files
	DatabaseURL string // --database, MUSTER_DATABASE_URL: postgres://… instead of SQLite

	// Web
	Addr         string // --addr, MUSTER_ADDR
	BaseURL      string // --base-url, MUSTER_BASE_URL: the public URL, for links in mail and the set-up link
	MetricsToken string // MUSTER_METRICS_TOKEN (or --metrics-token-file): bearer token that opens /metrics
	TrustProxy   bool   // --trust-proxy, MUSTER_TRUST_PROXY: believe X-Forwarded-For/-Proto from a load balancer

	LogLevel slog.Level // --log-level, MUSTER_LOG_LEVEL
	// JobLease is how long a background job's claim lasts without a
	// heartbeat (`muster worker --lease`; 0 means the queue's default).
	JobLease time.Duration
	// ShutdownTimeout bounds how long in-flight requests may take to finish.
	ShutdownTimeout time.Duration

	metricsTokenFile string
	logLevel         string
}

// Env returns the value of a MUSTER_* variable, or def.
func Env(name, def string) string {
	if v, ok := os.LookupEnv(name); ok {
		return v
	}
	return def
}

// RegisterStorage adds --data and --database, which every command accepts.
func (c *Config) RegisterStorage(fs *flag.FlagSet) {
	fs.StringVar(&c.DataDir, "data", Env("MUSTER_DATA", "muster-data"), "data `directory` for the embedded SQLite database and files (env MUSTER_DATA)")
	fs.StringVar(&c.DatabaseURL, "database", Env("MUSTER_DATABASE_URL", ""), "PostgreSQL `URL` (postgres://…) instead of SQLite (env MUSTER_DATABASE_URL)")
	fs.StringVar(&c.logLevel, "log-level", Env("MUSTER_LOG_LEVEL", "info"), "log level: debug, info, warn or error (env MUSTER_LOG_LEVEL)")
}

// RegisterServe adds the web server's flags.
func (c *Config) RegisterServe(fs *flag.FlagSet) {
	fs.StringVar(&c.Addr, "addr", Env("MUSTER_ADDR", ":8080"), "listen `address` (env MUSTER_ADDR)")
	fs.StringVar(&c.BaseURL, "base-url", Env("MUSTER_BASE_URL", ""), "public base `URL`, e.g. https://muster.example.org (env MUSTER_BASE_URL; default http://localhost:PORT)")
	fs.StringVar(&c.metricsTokenFile, "metrics-token-file", Env("MUSTER_METRICS_TOKEN_FILE", ""), "`file` holding the bearer token that opens /metrics (env MUSTER_METRICS_TOKEN_FILE, or MUSTER_METRICS_TOKEN)")
	fs.BoolVar(&c.TrustProxy, "trust-proxy", Env("MUSTER_TRUST_PROXY", "") == "true", "trust X-Forwarded-For and X-Forwarded-Proto (env MUSTER_TRUST_PROXY=true)")
	c.MetricsToken = Env("MUSTER_METRICS_TOKEN", "")
	c.ShutdownTimeout = 20 * time.Second
}

// Validate checks the settings once, after flags are parsed.
func (c *Config) Validate() error {
	if c.DatabaseURL != "" {
		u, err := url.Parse(c.DatabaseURL)
		if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
			return fmt.Errorf("config: --database must be a postgres:// URL")
		}
	} else if strings.TrimSpace(c.DataDir) == "" {
		return fmt.Errorf("config: --data must not be empty")
	}
	switch strings.ToLower(c.logLevel) {
	case "debug":
		c.LogLevel = slog.LevelDebug
	case "", "info":
		c.LogLevel = slog.LevelInfo
	case "warn":
		c.LogLevel = slog.LevelWarn
	case "error":
		c.LogLevel = slog.LevelError
	default:
		return fmt.Errorf("config: --log-level must be debug, info, warn or error")
	}
	if c.metricsTokenFile != "" {
		b, err := os.ReadFile(c.metricsTokenFile)
		if err != nil {
			return fmt.Errorf("config: read metrics token file: %w", err)
		}
		c.MetricsToken = strings.TrimSpace(string(b))
	}
	if c.MetricsToken != "" && len(c.MetricsToken) < 16 {
		return fmt.Errorf("config: the metrics token must be at least 16 characters")
	}
	if c.BaseURL != "" {
		u, err := url.Parse(c.BaseURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("config: --base-url must be an http(s) URL such as https://muster.example.org")
		}
		c.BaseURL = strings.TrimRight(c.BaseURL, "/")
	}
	return nil
}

// DSN returns what store.Open takes: the PostgreSQL URL, or the SQLite file
// inside the data directory.
func (c *Config) DSN() string {
	if c.DatabaseURL != "" {
		return c.DatabaseURL
	}
	return filepath.Join(c.DataDir, "muster.db")
}

// Secure reports whether the public URL is https, so cookies get Secure.
func (c *Config) Secure() bool { return strings.HasPrefix(c.BaseURL, "https://") }

// Mail is the e-mail settings of an installation: the SMTP relay, the
// sender's identity printed in every footer (the law wants it on every
// message), and the secret key that signs unsubscribe links and hashes
// suppressed addresses. They come from the environment only, so that
// `serve`, `worker` and the command-line tools read the same values.
type Mail struct {
	SMTPURL     string  // MUSTER_SMTP_URL: smtp://[user:pass@]host:port[?tls=required|none] or smtps://…
	From        string  // MUSTER_SMTP_FROM: the sender address, e.g. "Parti <news@example.org>"
	Rate        float64 // MUSTER_SMTP_RATE: most messages per second (0: no cap)
	Connections int     // MUSTER_SMTP_CONNECTIONS: connection pool size (default 10)
	PerDomain   int     // MUSTER_SMTP_PER_DOMAIN: concurrent transactions per recipient domain (default 0: no cap)
	OrgName     string  // MUSTER_ORG_NAME: organisation name in every footer (default: the nation's name)
	OrgAddress  string  // MUSTER_ORG_ADDRESS: postal address in every footer
	BaseURL     string  // public URL for unsubscribe links (BaseURL, else MUSTER_BASE_URL, else http://localhost:8080)
	// SecretKey signs unsubscribe tokens and keys suppression hashes. It is
	// MUSTER_SECRET_KEY (hex, at least 32 bytes) or the file secret.key in
	// the data directory, generated on first use. Every node sharing one
	// database must use the same key: set MUSTER_SECRET_KEY on all of them.
	SecretKey []byte
}

// MailSettings reads the e-mail settings from the environment, creating the
// secret key file in the data directory if there is none yet.
func (c *Config) MailSettings() (*Mail, error) {
	m := &Mail{
		SMTPURL:    Env("MUSTER_SMTP_URL", ""),
		From:       Env("MUSTER_SMTP_FROM", ""),
		OrgName:    Env("MUSTER_ORG_NAME", ""),
		OrgAddress: Env("MUSTER_ORG_ADDRESS", ""),
		BaseURL:    c.BaseURL,
	}
	if m.BaseURL == "" {
		m.BaseURL = strings.TrimRight(Env("MUSTER_BASE_URL", "http://localhost:8080"), "/")
	}
	var err error
	if m.Rate, err = strconv.ParseFloat(Env("MUSTER_SMTP_RATE", "0"), 64); err != nil || m.Rate < 0 {
		return nil, fmt.Errorf("config: MUSTER_SMTP_RATE must be a number of messages per second")
	}
	if m.Connections, err = strconv.Atoi(Env("MUSTER_SMTP_CONNECTIONS", "10")); err != nil || m.Connections < 1 || m.Connections > 500 {
		return nil, fmt.Errorf("config: MUSTER_SMTP_CONNECTIONS must be between 1 and 500")
	}
	if m.PerDomain, err = strconv.Atoi(Env("MUSTER_SMTP_PER_DOMAIN", "0")); err != nil || m.PerDomain < 0 {
		return nil, fmt.Errorf("config: MUSTER_SMTP_PER_DOMAIN must be a whole number")
	}
	if m.SecretKey, err = c.secretKey(); err != nil {
		return nil, err
	}
	return m, nil
}

// secretKey returns MUSTER_SECRET_KEY or the data directory's secret.key,
// generating the latter (0600) when absent.
func (c *Config) secretKey() ([]byte, error) {
	if v := strings.TrimSpace(Env("MUSTER_SECRET_KEY", "")); v != "" {
		k, err := hex.DecodeString(v)
		if err != nil || len(k) < 32 {
			return nil, fmt.Errorf("config: MUSTER_SECRET_KEY must be at least 64 hexadecimal digits")
		}
		return k, nil
	}
	dir := c.DataDir
	if dir == "" {
		// A Config built in code without a data directory (tests): a key
		// for this process only.
		k := make([]byte, 32)
		if _, err := rand.Read(k); err != nil {
			return nil, fmt.Errorf("config: generate secret key: %w", err)
		}
		return k, nil
	}
	path := filepath.Join(dir, "secret.key")
	if b, err := os.ReadFile(path); err == nil {
		k, err := hex.DecodeString(strings.TrimSpace(string(b)))
		if err != nil || len(k) < 32 {
			return nil, fmt.Errorf("config: %s is not a valid key (64 hexadecimal digits)", path)
		}
		return k, nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("config: read secret key: %w", err)
	}
	k := make([]byte, 32)
	if _, err := rand.Read(k); err != nil {
		return nil, fmt.Errorf("config: generate secret key: %w", err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("config: create data directory: %w", err)
	}
	// O_EXCL: when two processes start at once, one writes and both read it.
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return c.secretKey()
	}
	if err != nil {
		return nil, fmt.Errorf("config: write secret key: %w", err)
	}
	_, werr := f.WriteString(hex.EncodeToString(k) + "\n")
	if cerr := f.Close(); werr == nil {
		werr = cerr
	}
	if werr != nil {
		return nil, fmt.Errorf("config: write secret key: %w", werr)
	}
	return k, nil
}
