package hmi_test

import (
	"net/http"
	"os"
	"strconv"
	"testing"

	"github.com/serialine/serialine/line/api"
	"github.com/serialine/serialine/line/api/apitest"
	"github.com/serialine/serialine/line/config"
	"github.com/serialine/serialine/line/hmi"
)

func artifactDir(t *testing.T) string {
	if d := os.Getenv("SERIALINE_ARTIFACTS"); d != "" {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		return d
	}
	return t.TempDir()
}

func hmiEnv(t *testing.T) *apitest.Env {
	return hmiEnvWith(t, apitest.EnvOptions{})
}

// hmiEnvWith is an API + HMI over the fake controller with options o (o.UI is set here).
func hmiEnvWith(t *testing.T, o apitest.EnvOptions) *apitest.Env {
	o.UI = func(e *apitest.Env) http.Handler {
		ho := hmi.Options{Controller: e.Fake, Auth: e.Auth, Audit: api.JournalAudit{J: e.Journal}, Records: e.Records}
		if o.Shift != nil {
			ho.Shift = *o.Shift
		} else {
			ho.Shift = config.Shift{Clearance: []config.ChecklistItem{}, Reasons: map[string][]config.ReasonCode{}}
		}
		h, err := hmi.New(ho)
		if err != nil {
			t.Fatal(err)
		}
		h.AttachAPI(e.API)
		return h
	}
	return apitest.NewEnv(t, o)
}

// js quotes s as a JavaScript string literal.
func js(s string) string { return strconv.Quote(s) }
