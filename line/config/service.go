package config

import (
	"fmt"
	"path/filepath"
	"time"

	"github.com/serialine/serialine/configs"
	"github.com/serialine/serialine/store/journal"
)

// JournalArchive moves closed batches (Complete, Stopped or Aborted, with a
// signed reconciliation and every EPCIS event sent) out of the live journal
// into verifiable archive files, kept for their retention period.
//
//	journal:
//	  archive:
//	    dir: /var/lib/serialine/archive
//	    every: 1h
//	    retention:
//	      eu-fmd: {after_expiry_years: 1, min_years: 5}
type JournalArchive struct {
	// Dir is the archive folder; "" = no archiving (and unit lookups find
	// only the live journal's units).
	Dir string `yaml:"dir"`
	// Every is how often the running controller archives what can be
	// archived; 0 = only by `serialine journal archive`.
	Every time.Duration `yaml:"every"`
	// Retention per market profile prefix ("" = any other profile);
	// missing profiles use the defaults (EU FMD: 1 year past expiry, at
	// least 5 years; US DSCSA: 6 years; others: 1 year past expiry, at
	// least 6 years).
	Retention map[string]journal.Retention `yaml:"retention"`
}

// Rules returns the retention rules: the defaults overlaid with the
// configured ones.
func (a JournalArchive) Rules() map[string]journal.Retention {
	out := make(map[string]journal.Retention, len(journal.DefaultRetention)+len(a.Retention))
	for k, v := range journal.DefaultRetention {
		out[k] = v
	}
	for k, v := range a.Retention {
		out[k] = v
	}
	return out
}

// JournalBackup takes consistent copies of the live journal while the line
// runs.
type JournalBackup struct {
	// Dir is the backup folder; "" = no periodic backup. Put it on another
	// disk than the journal.
	Dir string `yaml:"dir"`
	// Every is the period between backups (required with Dir).
	Every time.Duration `yaml:"every"`
	// Keep is how many backups are kept (oldest deleted first); default 7.
	Keep int `yaml:"keep"`
}

// Clock watches the wall clock: audit and EPCIS times come from it, so a
// jump is an alarm and an audit entry, and a batch started while the system
// reports its clock unsynchronised needs a supervisor's override.
type Clock struct {
	// MaxStep is the largest forward jump of the wall clock, against the
	// monotonic clock, between two checks that passes silently. Default 2s.
	MaxStep time.Duration `yaml:"max_step"`
	// MaxBack is the same backwards. Default 100ms.
	MaxBack time.Duration `yaml:"max_back"`
	// CheckInterval is how often the clock and the journal's free space
	// are checked. Default 1s.
	CheckInterval time.Duration `yaml:"check_interval"`
	// RequireSync: Start needs a synchronised clock (as the system reports
	// it: adjtimex on Linux) or a supervisor's e-signed override; where the
	// system cannot tell, there is no check. Default false, so that a config
	// written before the key existed starts as it did; the installed config
	// (configs/line-pc.yaml) and the example set it true.
	RequireSync bool `yaml:"require_sync"`
}

func defaultClock() Clock {
	return Clock{MaxStep: 2 * time.Second, MaxBack: 100 * time.Millisecond, CheckInterval: time.Second}
}

// serviceProblems validates the journal lifecycle and clock settings.
func (c Config) serviceProblems() configs.Problems {
	var p configs.Problems
	j := c.Journal
	if j.MinFreeMB < 0 {
		p.Add("journal.min_free_mb", "must be >= 0 (0 = no check)")
	}
	if j.Archive.Every < 0 {
		p.Add("journal.archive.every", "must be >= 0")
	}
	if j.Archive.Every > 0 && j.Archive.Dir == "" {
		p.Add("journal.archive.dir", "must be set when journal.archive.every is")
	}
	for prof, r := range j.Archive.Retention {
		path := fmt.Sprintf("journal.archive.retention.%s", prof)
		if r.AfterExpiry < 0 || r.Minimum < 0 {
			p.Add(path, "years must be >= 0")
		}
		if r.AfterExpiry == 0 && r.Minimum == 0 {
			p.Add(path, "keeps nothing: set after_expiry_years or min_years")
		}
	}
	if j.Backup.Dir != "" {
		if j.Backup.Every <= 0 {
			p.Add("journal.backup.every", "must be > 0 when journal.backup.dir is set")
		}
		if j.Path != "" && sameDir(j.Backup.Dir, filepath.Dir(j.Path)) {
			p.Add("journal.backup.dir", "must not be the journal's own folder")
		}
	}
	if j.Backup.Keep < 1 {
		p.Add("journal.backup.keep", "must be >= 1")
	}
	k := c.Clock
	if k.MaxStep <= 0 {
		p.Add("clock.max_step", "must be > 0")
	}
	if k.MaxBack <= 0 {
		p.Add("clock.max_back", "must be > 0")
	}
	if k.CheckInterval <= 0 {
		p.Add("clock.check_interval", "must be > 0")
	}
	return p
}

func sameDir(a, b string) bool {
	return filepath.Clean(a) == filepath.Clean(b)
}
