package api

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"
)

// ServeOptions configures Serve.
type ServeOptions struct {
	// Addr is the listen address, e.g. "127.0.0.1:8080" (":0" picks a port).
	Addr string
	// CertFile and KeyFile, when both set, serve HTTPS (TLS 1.2 or later);
	// otherwise plain HTTP.
	CertFile, KeyFile string
	// Handler is what to serve (the *Server).
	Handler http.Handler
	// Logger logs start and stop; nil discards.
	Logger *slog.Logger
	// Ready, when set, is called with the bound address once listening.
	Ready func(addr string)
	// Listener, when set, is served instead of listening on Addr (the
	// caller bound it already, e.g. to fail before announcing anything);
	// Serve closes it.
	Listener net.Listener
}

// Serve runs an HTTP(S) server until ctx is done, then shuts it down,
// waiting up to 5s for requests in progress (event streams end with ctx).
// It returns nil after a shutdown caused by ctx.
func Serve(ctx context.Context, o ServeOptions) error {
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if (o.CertFile == "") != (o.KeyFile == "") {
		return fmt.Errorf("api: TLS needs both a certificate and a key file: %w", ErrOptions)
	}
	srv := &http.Server{Handler: o.Handler, ReadHeaderTimeout: 10 * time.Second,
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn), // not the standard logger
		// request contexts end with ctx: event streams stop at shutdown
		BaseContext: func(net.Listener) context.Context { return ctx }}
	scheme := "http"
	if o.CertFile != "" {
		// load before listening, so that a bad file is reported as such
		// and nothing is announced as listening
		cert, err := tls.LoadX509KeyPair(o.CertFile, o.KeyFile)
		if err != nil {
			return fmt.Errorf("api: TLS certificate %s / key %s: %w", o.CertFile, o.KeyFile, err)
		}
		scheme = "https"
		srv.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert}}
	}
	ln := o.Listener
	if ln == nil {
		var err error
		if ln, err = net.Listen("tcp", o.Addr); err != nil {
			return fmt.Errorf("api: listen %s: %w", o.Addr, err)
		}
	}
	errc := make(chan error, 1)
	go func() {
		if srv.TLSConfig != nil {
			errc <- srv.ServeTLS(ln, "", "")
		} else {
			errc <- srv.Serve(ln)
		}
	}()
	log.Info("api listening", "url", scheme+"://"+ln.Addr().String())
	if o.Ready != nil {
		o.Ready(ln.Addr().String())
	}
	select {
	case err := <-errc:
		return fmt.Errorf("api: serve: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	err := srv.Shutdown(sctx)
	<-errc
	if err != nil {
		return fmt.Errorf("api: shutdown: %w", err)
	}
	return nil
}
