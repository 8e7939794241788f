package journal_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/serialine/serialine/store/journal"
)

// The unit cycle as the line drives it: every step is durable before the
// next device sees anything.
func Example() {
	dir, err := os.MkdirTemp("", "journal-example-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	ctx := context.Background()
	j, err := journal.Open(filepath.Join(dir, "line.db"), nil)
	if err != nil {
		log.Fatal(err)
	}
	defer j.Close()

	gtin := "09501101530003"
	if err := j.ImportPool(ctx, journal.Pool{ID: "REQ-1", GTIN: gtin, Serials: []string{"X1", "X2"}}); err != nil {
		log.Fatal(err)
	}
	op := journal.Actor{User: "ann", Role: "operator"}
	if err := j.CreateBatch(ctx, journal.BatchDef{ID: "LOT42", GTIN: gtin, Lot: "42", Expiry: "281231", Target: 2}, op); err != nil {
		log.Fatal(err)
	}
	if err := j.SetBatchState(ctx, "LOT42", "Execute", op, "start"); err != nil {
		log.Fatal(err)
	}
	units, err := j.Draw(ctx, "LOT42", 1)
	if err != nil {
		log.Fatal(err)
	}
	s := units[0].Serial
	steps := []journal.Change{
		{Serial: s, To: journal.Queued},                                       // then send to the printer
		{Serial: s, To: journal.Printed, Seq: 7, Actor: journal.ActorPrinter}, // printer confirmed
		{Serial: s, To: journal.Verified, Grade: &journal.Grade{Overall: 3.5}, Actor: journal.ActorCamera},
		{Serial: s, To: journal.Commissioned, Actor: journal.ActorPLC}, // then the verdict to the PLC
	}
	for _, c := range steps {
		if err := j.Apply(ctx, c); err != nil {
			log.Fatal(err)
		}
	}
	c, _ := j.Counters("LOT42")
	fmt.Println(s, "commissioned:", c.Commissioned, "drawn total:", c.Total())
	if _, err := j.Verify(ctx); err != nil {
		log.Fatal(err)
	}
	// Output: X1 commissioned: 1 drawn total: 1
}
