package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/serialine/serialine/configs"
	"github.com/serialine/serialine/line/config"
	"github.com/serialine/serialine/printer/gs1/gcp"
)

// checkFiles checks the files and directories a config refers to, every
// one at once with its dotted path: the journal's directory (exists,
// writable) or file, the site server's token and CA files, the API's TLS
// certificate and key, the users file's directory, the OPC UA client
// certificate and key. run --check reports them too, so that a config that
// passes the check can start.
func checkFiles(cfg *config.Config) configs.Problems {
	var p configs.Problems
	readable := func(path, file string) {
		if file == "" {
			return
		}
		f, err := os.Open(file)
		if err != nil {
			p.Add(path, "cannot read %s: %v", file, unwrapPathErr(err))
			return
		}
		defer f.Close()
		if st, err := f.Stat(); err == nil && st.IsDir() {
			p.Add(path, "%s is a directory, want a file", file)
		}
	}
	writableDir := func(path, file string) {
		if file == "" {
			return
		}
		dir := filepath.Dir(file)
		st, err := os.Stat(dir)
		switch {
		case err != nil:
			p.Add(path, "directory %s of %s: %v", dir, file, unwrapPathErr(err))
			return
		case !st.IsDir():
			p.Add(path, "%s is not a directory", dir)
			return
		}
		if st, err := os.Stat(file); err == nil {
			if st.IsDir() {
				p.Add(path, "%s is a directory, want a file", file)
			} else if f, err := os.OpenFile(file, os.O_RDWR, 0); err != nil {
				p.Add(path, "cannot open %s for writing: %v", file, unwrapPathErr(err))
			} else {
				f.Close()
			}
			return
		}
		f, err := os.CreateTemp(dir, ".serialine-check-*")
		if err != nil {
			p.Add(path, "directory %s is not writable: %v", dir, unwrapPathErr(err))
			return
		}
		f.Close()
		os.Remove(f.Name())
	}
	writableDir("journal.path", cfg.Journal.Path)
	if cfg.Upstream.URL != "" {
		readable("upstream.token_file", cfg.Upstream.TokenFile)
		readable("upstream.ca_file", cfg.Upstream.CAFile)
	}
	if o := cfg.Upstream.OpenSCS; o != nil {
		readable("upstream.open_scs.certificate", o.Certificate)
		readable("upstream.open_scs.private_key", o.PrivateKey)
	}
	if cfg.Upstream.Events == "capture" {
		readable("upstream.capture.token_file", cfg.Upstream.Capture.TokenFile)
		readable("upstream.capture.ca_file", cfg.Upstream.Capture.CAFile)
	}
	if cfg.Line.GCPFile != "" {
		if _, err := gcp.Load(cfg.Line.GCPFile); err != nil {
			p.Add("line.gcp_file", "%v", err)
		}
	}
	if cfg.API.Listen != "" {
		readable("api.cert_file", cfg.API.CertFile)
		readable("api.key_file", cfg.API.KeyFile)
		writableDir("api.users_file", cfg.API.UsersFile)
	}
	if u := cfg.Devices.PLC.OPCUA; u != nil && cfg.Devices.PLC.Protocol == "opcua" {
		readable("devices.plc.opcua.certificate", u.Certificate)
		readable("devices.plc.opcua.private_key", u.PrivateKey)
	}
	return p
}

// unwrapPathErr drops the *os.PathError's "open FILE:" prefix the message
// already names.
func unwrapPathErr(err error) error {
	if pe, ok := err.(*os.PathError); ok {
		return pe.Err
	}
	return err
}

// fileProblems is checkFiles as an error (nil when every file is there).
func fileProblems(cfg *config.Config) error {
	if err := checkFiles(cfg).Err(); err != nil {
		return fmt.Errorf("files the config refers to: %w", err)
	}
	return nil
}
