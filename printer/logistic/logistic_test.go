package logistic

import (
	"strings"
	"testing"
)

func TestRecordFields(t *testing.T) {
	f, err := RecordFields(Label{SSCC: "306141411234567891", Title: "CASE 40", LotExp: "LOT L1"})
	if err != nil {
		t.Fatal(err)
	}
	if f["code128"] != "(00)306141411234567891" || f["hri"] != "(00) 3 0614141123456789 1" || f["matrix"] != "_100306141411234567891" {
		t.Fatalf("fields %v", f)
	}
	for name := range f {
		if _, ok := Fields[name]; !ok {
			t.Errorf("field %q has no ^FN number", name)
		}
	}
	if _, err := RecordFields(Label{SSCC: "306141411234567890"}); err == nil || !strings.Contains(err.Error(), "check") {
		t.Fatalf("bad check digit: %v", err)
	}
	body := Format(Options{DataMatrix: true})
	for _, want := range []string{"^BCN,250,N,N,N,D^FN1^FS", "^BXN,8,200,,,,_^FN3^FS", "^PW812^LL1218"} {
		if !strings.Contains(body, want) {
			t.Errorf("format lacks %q:\n%s", want, body)
		}
	}
	if strings.Contains(Format(Options{}), "^BX") {
		t.Error("DataMatrix without the option")
	}
}
