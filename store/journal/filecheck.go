package journal

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"os"
)

// bbolt's on-disk format (version 2), as far as CheckFile reads it.
const (
	boltMagic          = 0xED0CDAED
	boltVersion        = 2
	pageHeaderSize     = 16 // id u64, flags u16, count u16, overflow u32
	elemSize           = 16 // branch {pos, ksize u32; pgid u64}, leaf {flags, pos, ksize, vsize u32}
	metaChecksumOffset = 56 // magic, version, pageSize, flags u32; root {pgid, seq u64}; freelist, pgid, txid u64
	bucketHeaderSize   = 16 // root pgid u64, sequence u64
	flagBranch         = 0x01
	flagLeaf           = 0x02
	flagMeta           = 0x04
	flagFreelist       = 0x10
	leafBucketFlag     = 0x01
	noFreelist         = ^uint64(0)
	maxTreeDepth       = 64
)

// CheckFile walks the page structure of the bbolt file at path — the meta
// page bbolt would use, the freelist, every page reachable from the root
// bucket with its elements, keys and values — with bounds checks, without
// bbolt. bbolt trusts page ids and offsets: on a damaged file (truncated,
// overwritten, bit rot) it panics or reads outside its memory map and
// crashes the process. CheckFile finds such damage first and reports it as
// an error wrapping ErrCorrupt naming the page, so that `journal verify`
// fails with a message instead. Open runs it for read-only opens.
//
// It checks structure only; Verify checks the journal's content.
func CheckFile(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	fc := fileChecker{r: f, size: st.Size(), seen: map[uint64]bool{}}
	if err := fc.check(); err != nil {
		return fmt.Errorf("%w: %s: bbolt file structure: %w", ErrCorrupt, path, err)
	}
	return nil
}

type fileChecker struct {
	r        io.ReaderAt
	size     int64
	pageSize int64
	hwm      uint64 // high water mark: pages [0, hwm) are in use
	seen     map[uint64]bool
}

type boltMeta struct {
	pageSize uint32
	root     uint64
	freelist uint64
	pgid     uint64
	txid     uint64
}

// readMeta decodes and validates the meta page held in buf (page header
// first).
func readMeta(buf []byte) (boltMeta, error) {
	if len(buf) < pageHeaderSize+metaChecksumOffset+8 {
		return boltMeta{}, errors.New("meta page cut short")
	}
	m := buf[pageHeaderSize:]
	le := binary.LittleEndian
	switch {
	case le.Uint32(m[0:]) != boltMagic:
		return boltMeta{}, errors.New("not a bbolt meta page (magic)")
	case le.Uint32(m[4:]) != boltVersion:
		return boltMeta{}, fmt.Errorf("bbolt format version %d, want %d", le.Uint32(m[4:]), boltVersion)
	}
	h := fnv.New64a()
	_, _ = h.Write(m[:metaChecksumOffset])
	if h.Sum64() != le.Uint64(m[metaChecksumOffset:]) {
		return boltMeta{}, errors.New("meta page checksum mismatch")
	}
	return boltMeta{pageSize: le.Uint32(m[8:]), root: le.Uint64(m[16:]), freelist: le.Uint64(m[32:]),
		pgid: le.Uint64(m[40:]), txid: le.Uint64(m[48:])}, nil
}

func (fc *fileChecker) read(off, n int64) ([]byte, error) {
	if off < 0 || n < 0 || off > fc.size || n > fc.size-off {
		return nil, fmt.Errorf("bytes %d+%d lie beyond the end of the file (%d bytes)", off, n, fc.size)
	}
	buf := make([]byte, n)
	if _, err := fc.r.ReadAt(buf, off); err != nil {
		return nil, err
	}
	return buf, nil
}

func (fc *fileChecker) check() error {
	// The page size, as bbolt finds it: from the first meta page, else
	// from a second one at a power-of-two offset.
	first, err := fc.read(0, min(fc.size, 4096))
	if err != nil {
		return err
	}
	m0, err0 := readMeta(first)
	if err0 == nil {
		fc.pageSize = int64(m0.pageSize)
	} else {
		for i := 0; i <= 14 && fc.pageSize == 0; i++ {
			pos := int64(1024) << i
			if pos >= fc.size-1024 {
				break
			}
			b, _ := fc.read(pos, min(4096, fc.size-pos))
			if m, err := readMeta(b); err == nil {
				fc.pageSize = int64(m.pageSize)
			}
		}
	}
	if fc.pageSize == 0 {
		return fmt.Errorf("no valid meta page (first: %v)", err0)
	}
	if fc.pageSize < 512 || fc.pageSize > 1<<24 || fc.pageSize&(fc.pageSize-1) != 0 {
		return fmt.Errorf("page size %d", fc.pageSize)
	}
	if fc.size < 2*fc.pageSize {
		return fmt.Errorf("file of %d bytes holds no two meta pages of %d", fc.size, fc.pageSize)
	}
	// The meta bbolt uses: the valid one with the higher transaction id.
	// bbolt's own check reads both meta pages and asserts their headers
	// even when one of them does not validate.
	var metas []boltMeta
	for id := int64(0); id < 2; id++ {
		b, err := fc.read(id*fc.pageSize, fc.pageSize)
		if err != nil {
			return err
		}
		le := binary.LittleEndian
		if got, flags := le.Uint64(b), le.Uint16(b[8:]); got != uint64(id) || flags != flagMeta {
			return fmt.Errorf("meta page %d: header says page %d, flags 0x%x", id, got, flags)
		}
		if m, err := readMeta(b); err == nil && int64(m.pageSize) == fc.pageSize {
			metas = append(metas, m)
		}
	}
	if len(metas) == 0 {
		return errors.New("both meta pages are invalid")
	}
	meta := metas[0]
	if len(metas) == 2 && metas[1].txid > meta.txid {
		meta = metas[1]
	}
	fc.hwm = meta.pgid
	if fc.hwm < 3 {
		return fmt.Errorf("high water mark %d: no page beyond the meta pages", fc.hwm)
	}
	if pages := uint64(fc.size / fc.pageSize); fc.hwm > pages {
		return fmt.Errorf("high water mark is page %d but the file holds %d pages (truncated?)", fc.hwm, pages)
	}
	if meta.freelist != noFreelist {
		if err := fc.checkFreelist(meta.freelist); err != nil {
			return err
		}
	}
	_, err = fc.checkPage(meta.root, 0, "root bucket", nil, nil)
	return err
}

// span reads page id with its overflow pages and checks its header.
func (fc *fileChecker) span(id uint64, what string) ([]byte, uint16, uint16, error) {
	if id < 2 || id >= fc.hwm {
		return nil, 0, 0, fmt.Errorf("%s: page %d outside the pages in use [2, %d)", what, id, fc.hwm)
	}
	if fc.seen[id] {
		return nil, 0, 0, fmt.Errorf("%s: page %d referenced twice", what, id)
	}
	fc.seen[id] = true
	hdr, err := fc.read(int64(id)*fc.pageSize, pageHeaderSize)
	if err != nil {
		return nil, 0, 0, fmt.Errorf("%s: page %d: %w", what, id, err)
	}
	le := binary.LittleEndian
	if got := le.Uint64(hdr); got != id {
		return nil, 0, 0, fmt.Errorf("%s: page %d says it is page %d", what, id, got)
	}
	flags, count, overflow := le.Uint16(hdr[8:]), le.Uint16(hdr[10:]), uint64(le.Uint32(hdr[12:]))
	if id+overflow >= fc.hwm {
		return nil, 0, 0, fmt.Errorf("%s: page %d with %d overflow pages runs past the pages in use (%d)", what, id, overflow, fc.hwm)
	}
	for o := id + 1; o <= id+overflow; o++ {
		if fc.seen[o] {
			return nil, 0, 0, fmt.Errorf("%s: overflow page %d of page %d is also used elsewhere", what, o, id)
		}
		fc.seen[o] = true
	}
	buf, err := fc.read(int64(id)*fc.pageSize, int64(1+overflow)*fc.pageSize)
	if err != nil {
		return nil, 0, 0, fmt.Errorf("%s: page %d: %w", what, id, err)
	}
	return buf, flags, count, nil
}

func (fc *fileChecker) checkFreelist(id uint64) error {
	buf, flags, count, err := fc.span(id, "freelist")
	if err != nil {
		return err
	}
	if flags != flagFreelist {
		return fmt.Errorf("freelist: page %d has flags 0x%x", id, flags)
	}
	n, at := uint64(count), uint64(pageHeaderSize)
	if count == 0xFFFF {
		if len(buf) < pageHeaderSize+8 {
			return fmt.Errorf("freelist: page %d cut short", id)
		}
		n, at = binary.LittleEndian.Uint64(buf[pageHeaderSize:]), pageHeaderSize+8
	}
	if n > (uint64(len(buf))-at)/8 {
		return fmt.Errorf("freelist: page %d claims %d free pages, room for %d", id, n, (uint64(len(buf))-at)/8)
	}
	for i := range n {
		if p := binary.LittleEndian.Uint64(buf[at+8*i:]); p < 2 || p >= fc.hwm {
			return fmt.Errorf("freelist: free page %d outside the pages in use [2, %d)", p, fc.hwm)
		}
	}
	return nil
}

// checkPage checks a branch or leaf page of a bucket tree and, below it,
// every page and sub-bucket it leads to. Keys must be in order, within
// [minKey, maxKey) (nil: unbounded), as bbolt's own check requires — bbolt
// panics when it rebuilds its freelist from a tree that breaks any of
// this. It returns the largest key in the subtree.
func (fc *fileChecker) checkPage(id uint64, depth int, what string, minKey, maxKey []byte) ([]byte, error) {
	if depth > maxTreeDepth {
		return nil, fmt.Errorf("%s: tree deeper than %d pages", what, maxTreeDepth)
	}
	buf, flags, count, err := fc.span(id, what)
	if err != nil {
		return nil, err
	}
	where := fmt.Sprintf("%s: page %d", what, id)
	switch flags {
	case flagBranch:
		if count == 0 {
			return nil, fmt.Errorf("%s: branch page without elements", where)
		}
		return fc.checkElems(buf, count, true, depth, where, minKey, maxKey)
	case flagLeaf:
		return fc.checkElems(buf, count, false, depth, where, minKey, maxKey)
	}
	return nil, fmt.Errorf("%s: flags 0x%x where a branch or leaf page belongs", where, flags)
}

// elem is one decoded page element.
type elem struct {
	flags    uint32
	key, val []byte
	child    uint64 // branch
}

// elems decodes the count elements of a branch or leaf page held in buf
// (header first), each bounded by buf.
func elems(buf []byte, count uint16, branch bool, where string) ([]elem, error) {
	le := binary.LittleEndian
	if uint64(pageHeaderSize)+uint64(count)*elemSize > uint64(len(buf)) {
		return nil, fmt.Errorf("%s: %d elements do not fit in %d bytes", where, count, len(buf))
	}
	out := make([]elem, count)
	for i := range uint64(count) {
		off := uint64(pageHeaderSize) + i*elemSize
		e := buf[off : off+elemSize]
		var pos, ksize, vsize uint64
		if branch {
			pos, ksize = uint64(le.Uint32(e[0:])), uint64(le.Uint32(e[4:]))
			out[i].child = le.Uint64(e[8:])
		} else {
			out[i].flags = le.Uint32(e[0:])
			pos, ksize, vsize = uint64(le.Uint32(e[4:])), uint64(le.Uint32(e[8:])), uint64(le.Uint32(e[12:]))
		}
		if end := off + pos + ksize + vsize; end > uint64(len(buf)) {
			return nil, fmt.Errorf("%s: element %d (key %d + value %d bytes at +%d) runs past the page", where, i, ksize, vsize, pos)
		}
		k := off + pos
		out[i].key, out[i].val = buf[k:k+ksize], buf[k+ksize:k+ksize+vsize]
	}
	return out, nil
}

// checkElems checks the elements of a branch or leaf page held in buf
// (header first; for an inline bucket, the bytes after the bucket header)
// and what they lead to; for a page of a tree (not inline) also their key
// order within [minKey, maxKey). It returns the largest key below.
func (fc *fileChecker) checkElems(buf []byte, count uint16, branch bool, depth int, where string, minKey, maxKey []byte) ([]byte, error) {
	es, err := elems(buf, count, branch, where)
	if err != nil {
		return nil, err
	}
	le := binary.LittleEndian
	running, largest := minKey, []byte(nil)
	for i, e := range es {
		switch {
		case i == 0 && running != nil && bytes.Compare(running, e.key) > 0:
			return nil, fmt.Errorf("%s: first key %x sorts before the parent's %x", where, e.key, running)
		case i > 0 && bytes.Compare(running, e.key) >= 0:
			return nil, fmt.Errorf("%s: key %d (%x) does not sort after %x", where, i, e.key, running)
		case maxKey != nil && bytes.Compare(e.key, maxKey) >= 0:
			return nil, fmt.Errorf("%s: key %d (%x) does not sort before the parent's next key %x", where, i, e.key, maxKey)
		}
		if branch {
			next := maxKey
			if i < len(es)-1 {
				next = es[i+1].key
			}
			largest, err = fc.checkPage(e.child, depth+1, where+" branch", e.key, next)
			if err != nil {
				return nil, err
			}
			running = largest
			continue
		}
		running, largest = e.key, e.key
		if e.flags&^leafBucketFlag != 0 {
			return nil, fmt.Errorf("%s: element %d has flags 0x%x", where, i, e.flags)
		}
		if e.flags&leafBucketFlag == 0 {
			continue
		}
		// A sub-bucket: its header, then either a root page or an inline page.
		sub := fmt.Sprintf("%s → bucket %q", where, e.key)
		if len(e.val) < bucketHeaderSize {
			return nil, fmt.Errorf("%s: bucket header of %d bytes", sub, len(e.val))
		}
		if root := le.Uint64(e.val); root != 0 {
			if _, err := fc.checkPage(root, depth+1, sub, nil, nil); err != nil {
				return nil, err
			}
			continue
		}
		inline := e.val[bucketHeaderSize:]
		if len(inline) < pageHeaderSize {
			return nil, fmt.Errorf("%s: inline bucket of %d bytes", sub, len(inline))
		}
		if fl := le.Uint16(inline[8:]); fl != flagLeaf {
			return nil, fmt.Errorf("%s: inline page flags 0x%x, want a leaf", sub, fl)
		}
		if depth+1 > maxTreeDepth {
			return nil, fmt.Errorf("%s: buckets nested deeper than %d", sub, maxTreeDepth)
		}
		if _, err := fc.checkElems(inline, le.Uint16(inline[10:]), false, depth+1, sub, nil, nil); err != nil {
			return nil, err
		}
	}
	return largest, nil
}
