// Package config holds Muster's settings: read from command-line flags with
// MUSTER_* environment variables as defaults, validated once, then passed
// down explicitly. No package keeps configuration in globals.
package config

import (
	"flag"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
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
