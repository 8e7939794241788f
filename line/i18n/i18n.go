// Package i18n holds the message catalogues of the HMI, the reports and
// the operator messages: one JSON file per language (catalog/en.json,
// catalog/de.json …), key → text with {name} placeholders. English is
// complete and the fallback; every other catalogue must have every English
// key with the same placeholders (TestCatalogues).
//
// Keys are dotted by area: "nav.*", "line.*", "alarm.<CODE>" (plain-language
// alarm text with the action to take), "reason.<code>" (command reason
// codes), "state.<PackML state>", "report.*". A page, a report or an API
// answer asks for the user's language (auth.User.Lang) and gets the
// English text where a translation lacks one.
package i18n

import (
	"embed"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
)

//go:embed catalog/*.json
var files embed.FS

// Default is the fallback language.
const Default = "en"

var (
	once sync.Once
	cats map[string]map[string]string
	err0 error
)

func load() {
	cats = map[string]map[string]string{}
	ents, err := files.ReadDir("catalog")
	if err != nil {
		err0 = err
		return
	}
	for _, e := range ents {
		lang := strings.TrimSuffix(e.Name(), ".json")
		b, err := files.ReadFile("catalog/" + e.Name())
		if err != nil {
			err0 = err
			return
		}
		m := map[string]string{}
		if err := json.Unmarshal(b, &m); err != nil {
			err0 = fmt.Errorf("i18n: catalog/%s: %w", e.Name(), err)
			return
		}
		cats[lang] = m
	}
}

// Languages lists the languages with a catalogue, English first.
func Languages() []string {
	once.Do(load)
	out := make([]string, 0, len(cats))
	for l := range cats {
		if l != Default {
			out = append(out, l)
		}
	}
	sort.Strings(out)
	return append([]string{Default}, out...)
}

// Has reports whether lang has a catalogue.
func Has(lang string) bool {
	once.Do(load)
	_, ok := cats[lang]
	return ok
}

// Lookup returns the text of key in lang (English when lang lacks it) and
// whether any catalogue has it.
func Lookup(lang, key string) (string, bool) {
	once.Do(load)
	if s, ok := cats[lang][key]; ok {
		return s, true
	}
	s, ok := cats[Default][key]
	return s, ok
}

// T returns the text of key in lang with {name} placeholders filled from
// args (name, value pairs); a key no catalogue has comes back as itself.
func T(lang, key string, args ...string) string {
	s, ok := Lookup(lang, key)
	if !ok {
		s = key
	}
	return Fill(s, args...)
}

// Word translates a state or name w of a kind (key prefix, e.g. "ustate."
// for unit states, "level." for packaging levels); a word the catalogue does
// not know (a level name from the product master) is returned as it is.
func Word(lang, prefix, w string) string {
	if s, ok := Lookup(lang, prefix+w); ok {
		return s
	}
	return w
}

// TMap is T with the placeholders in a map.
func TMap(lang, key string, args map[string]string) string {
	kv := make([]string, 0, 2*len(args))
	for k, v := range args {
		kv = append(kv, k, v)
	}
	return T(lang, key, kv...)
}

// Fill replaces {name} in s by its value from the name, value pairs.
func Fill(s string, args ...string) string {
	if !strings.Contains(s, "{") {
		return s
	}
	for i := 0; i+1 < len(args); i += 2 {
		s = strings.ReplaceAll(s, "{"+args[i]+"}", args[i+1])
	}
	return s
}

// Catalogue returns lang's whole catalogue merged over English (for the
// HMI's script); keys with prefix only when prefix is not "".
func Catalogue(lang, prefix string) map[string]string {
	once.Do(load)
	out := map[string]string{}
	for _, l := range []string{Default, lang} {
		for k, v := range cats[l] {
			if strings.HasPrefix(k, prefix) {
				out[k] = v
			}
		}
	}
	return out
}

// Keys lists the keys of lang's own catalogue, sorted.
func Keys(lang string) []string {
	once.Do(load)
	ks := make([]string, 0, len(cats[lang]))
	for k := range cats[lang] {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

// Err reports a catalogue that failed to load (tests call it).
func Err() error { once.Do(load); return err0 }

// Pick chooses the language for a reader: the user's own when it has a
// catalogue, else the first of accept (an Accept-Language header's
// languages) that has one, else English.
func Pick(user string, accept string) string {
	if user != "" && Has(user) {
		return user
	}
	for _, part := range strings.Split(accept, ",") {
		tag := strings.TrimSpace(strings.SplitN(part, ";", 2)[0])
		if base := strings.ToLower(strings.SplitN(tag, "-", 2)[0]); base != "" && Has(base) {
			return base
		}
	}
	return Default
}
