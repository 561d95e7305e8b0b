package hsmem

import (
	"encoding/binary"
	"os"
	"testing"
	"unicode/utf16"
	"unsafe"
)

// writeUnsigned5 encodes v the way HotSpot's UNSIGNED5::write_uint does
// (written from the format, not from the decoder under test).
func writeUnsigned5(out []byte, v uint32) []byte {
	const lgH, h, x, l = 6, 64, 1, 191
	sum := v
	for i := 0; ; i++ {
		if sum < l || i == 4 {
			return append(out, byte(sum+x))
		}
		sum -= l
		out = append(out, byte(x+l+sum%h))
		sum >>= lgH
	}
}

func TestUnsigned5(t *testing.T) {
	// Fixed vectors: one byte below 191, two bytes from 191 on.
	for _, c := range []struct {
		b    []byte
		want uint32
	}{{[]byte{1}, 0}, {[]byte{191}, 190}, {[]byte{192, 1}, 191}, {[]byte{255, 1}, 254}} {
		v, n, err := readUnsigned5(c.b, 0)
		if err != nil || v != c.want || n != len(c.b) {
			t.Errorf("%v: %d, %d, %v; want %d", c.b, v, n, err, c.want)
		}
	}
	for _, v := range []uint32{0, 1, 190, 191, 192, 254, 255, 4095, 12287, 12288, 1 << 20, 1<<31 + 5, 0xffffffff} {
		b := writeUnsigned5(nil, v)
		got, n, err := readUnsigned5(append(b, 7), 0)
		if err != nil || got != v || n != len(b) {
			t.Errorf("%d encoded %v: decoded %d using %d bytes, %v", v, b, got, n, err)
		}
		for _, c := range b {
			if c == 0 {
				t.Errorf("%d encoded with a 0 byte: %v", v, b)
			}
		}
	}
	if _, _, err := readUnsigned5([]byte{200}, 0); err == nil {
		t.Error("a truncated number decoded")
	}
	if _, _, err := readUnsigned5([]byte{0}, 0); err == nil {
		t.Error("the excluded byte 0 decoded")
	}
}

func TestParseFieldStream(t *testing.T) {
	type f struct{ name, sig, off, acc, flags uint32 }
	fields := []f{
		{10, 11, 12, 0x0002, 0},
		{20, 21, 200, 0x0008, ffInitialized},                   // static, with a ConstantValue
		{30, 31, 4000, 0x0041, ffGeneric | ffContended | 1<<3}, // generic, contended, stable
		{300, 301, 16, 0x0010, ffInitialized | ffGeneric | ffContended},
	}
	injected := f{7, 8, 64, 0, 1 << 1}
	var b []byte
	b = writeUnsigned5(b, uint32(len(fields)))
	b = writeUnsigned5(b, 1)
	for _, x := range append(fields, injected) {
		for _, v := range []uint32{x.name, x.sig, x.off, x.acc, x.flags} {
			b = writeUnsigned5(b, v)
		}
		for _, bit := range []uint32{ffInitialized, ffGeneric, ffContended} {
			if x.flags&bit != 0 {
				b = writeUnsigned5(b, 999+bit) // the optional number
			}
		}
	}
	b = append(b, 0)
	got, err := parseFieldStream(b)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(fields) {
		t.Fatalf("%d fields, want %d (Java fields only)", len(got), len(fields))
	}
	for i, x := range fields {
		if g := got[i]; g.name != x.name || g.sig != x.sig || g.offset != x.off || g.access != x.acc {
			t.Errorf("field %d: %+v, want %+v", i, g, x)
		}
	}
	if _, err := parseFieldStream(b[:len(b)/2]); err == nil {
		t.Error("a truncated stream parsed")
	}
}

func TestParseOldFields(t *testing.T) {
	const tagSize, tagOffset = 2, 1
	pack := func(off uint32) (lo, hi uint16) {
		p := off<<tagSize | tagOffset
		return uint16(p), uint16(p >> 16)
	}
	var u2s []uint16
	offs := []uint32{12, 70000, 48}
	for i, off := range offs {
		lo, hi := pack(off)
		u2s = append(u2s, uint16(i), uint16(100+i), uint16(200+i), 0, lo, hi)
	}
	u2s = append(u2s, 5, 5) // generic signature slots after the fields
	got, err := parseOldFields(u2s, len(offs), tagSize, tagOffset)
	if err != nil {
		t.Fatal(err)
	}
	for i, off := range offs {
		if g := got[i]; g.offset != off || g.name != uint32(100+i) || g.sig != uint32(200+i) || g.access != uint32(i) {
			t.Errorf("field %d: %+v, want offset %d", i, g, off)
		}
	}
	u2s[fiLowOffset] = 2 << tagSize // tag "contended", no offset yet
	if _, err := parseOldFields(u2s, len(offs), tagSize, tagOffset); err == nil {
		t.Error("a field without an offset tag parsed")
	}
	if _, err := parseOldFields(u2s, 10, tagSize, tagOffset); err == nil {
		t.Error("more fields than the array holds parsed")
	}
}

func TestRefDecode(t *testing.T) {
	b := make([]byte, 16)
	binary.LittleEndian.PutUint32(b[4:], 0x1234)
	l := layout{refSize: 4, oopBase: 0x7f0000000000, oopShift: 3}
	if got, want := l.ref(b, 4), uint64(0x7f0000000000+0x1234<<3); got != want {
		t.Errorf("narrow oop: %#x, want %#x", got, want)
	}
	if got := l.ref(b, 0); got != 0 {
		t.Errorf("narrow null decoded to %#x", got)
	}
	l = layout{refSize: 4} // zero-based, unscaled
	if got := l.ref(b, 4); got != 0x1234 {
		t.Errorf("zero-based narrow oop: %#x", got)
	}
	binary.LittleEndian.PutUint64(b[8:], 0xdeadbeef000)
	l = layout{refSize: 8}
	if got := l.ref(b, 8); got != 0xdeadbeef000 {
		t.Errorf("wide oop: %#x", got)
	}
}

func TestKlassOf(t *testing.T) {
	b := make([]byte, 16)
	// Compact headers: the narrow klass sits in the mark word's top bits.
	mark := uint64(0x2a)<<42 | 0x5
	binary.LittleEndian.PutUint64(b, mark)
	l := layout{flags: Flags{UseCompactObjectHeaders: true}, compactKlassBit: 42, klassBase: 0x800000000, klassShift: 10}
	if got, want := l.klassOf(b), uint64(0x800000000+0x2a<<10); got != want {
		t.Errorf("compact: %#x, want %#x", got, want)
	}
	binary.LittleEndian.PutUint32(b[8:], 0x77)
	l = layout{flags: Flags{UseCompressedClassPointers: true}, klassOff: 8, klassBase: 0x800000000, klassShift: 3}
	if got, want := l.klassOf(b), uint64(0x800000000+0x77<<3); got != want {
		t.Errorf("compressed: %#x, want %#x", got, want)
	}
	binary.LittleEndian.PutUint64(b[8:], 0x7f00001000)
	l = layout{klassOff: 8}
	if got := l.klassOf(b); got != 0x7f00001000 {
		t.Errorf("wide: %#x", got)
	}
}

func TestStrings(t *testing.T) {
	if got := decodeLatin1([]byte{'Z', 0xfc, 'r', 'i', 'c', 'h'}); got != "Zürich" {
		t.Errorf("Latin-1: %q", got)
	}
	for _, s := range []string{"plain", "日本語スレッド", "emoji-😀-x", ""} {
		u := utf16.Encode([]rune(s))
		b := make([]byte, 2*len(u))
		for i, c := range u {
			binary.LittleEndian.PutUint16(b[2*i:], c)
		}
		if got := decodeUTF16(b); got != s {
			t.Errorf("UTF-16 %q decoded as %q", s, got)
		}
	}
}

func TestCommMatches(t *testing.T) {
	units := func(s string) []uint16 { return utf16.Encode([]rune(s)) }
	for _, c := range []struct {
		name, comm string
		want       bool
	}{
		{"main", "main", true},
		{"http-nio-8080-exec-12", "http-nio-8080-e", true},
		{"http-nio-8080-exec-12", "http-nio-8080-exec-12", false},
		// 15 bytes: five 3-byte characters, or cut inside the fifth.
		{"日本語スレッド", "日本語スレ", true},
		{"a日本語スレッド", "a日本語ス\xe3\x83", true},
		{"a日本語スレッド", "a日本語ス", false},
		// Supplementary characters go as two 3-byte surrogates.
		{"a😀", "a\xed\xa0\xbd\xed\xb8\x80", true},
		{"a😀", "a😀", false},
		{"Zürich", "Zürich", true},
		{"x\x00y", "x\xc0\x80y", true},
		{"worker-1", "worker-2", false},
	} {
		if got := commMatches(units(c.name), c.comm); got != c.want {
			t.Errorf("commMatches(%q, %q) = %v", c.name, c.comm, got)
		}
	}
}

// TestReadvFault: a region that faults ends a process_vm_readv batch;
// the regions after it are still read.
func TestReadvFault(t *testing.T) {
	m, err := openMem(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	defer m.close()
	src := make([][]byte, 3000) // more than one batch of iovecs
	rs := make([]region, len(src))
	for i := range src {
		src[i] = []byte{byte(i), byte(i >> 8), 0xa5}
		rs[i] = region{addr: uint64(uintptr(unsafe.Pointer(&src[i][0]))), buf: make([]byte, 3)}
	}
	bad := map[int]bool{0: true, 5: true, 6: true, 1500: true, 2999: true}
	for i := range bad {
		rs[i].addr = 4096 // never mapped
	}
	for _, vm := range []bool{true, false} {
		m.noVM = !vm
		m.readv(rs)
		for i, r := range rs {
			if r.ok == bad[i] || r.ok && string(r.buf) != string(src[i]) {
				t.Fatalf("process_vm_readv %v: region %d ok=%v buf=%v, want ok=%v %v", vm, i, r.ok, r.buf, !bad[i], src[i])
			}
		}
	}
}

// TestZGCUncolour decodes coloured references as HotSpot lays them out
// (gc/z/zAddress.hpp, x86_64; gc/x for one generation).
func TestZGCUncolour(t *testing.T) {
	const addr = 0x40000123450 // heap base bit 42 | offset, 16-byte aligned
	// Generational: 16 metadata bits below the address, which starts
	// right after the one remapped bit set (bits 12-15), zeros shared.
	for i, shift := range []uint{13, 14, 15, 16} {
		p := uint64(addr)<<shift | 1<<(12+i) | 0x3f0 // marked and remembered bits set too
		if got := uncolour(p); got != addr {
			t.Errorf("remapped bit %d: %#x uncoloured to %#x, want %#x", i, p, got, uint64(addr))
		}
	}
	if got := uncolour(0x30); got != 0 {
		t.Errorf("a coloured null uncoloured to %#x", got)
	}
	if got := uncolour(uint64(addr)<<13 | 3<<12); got != 0 {
		t.Errorf("two remapped bits (no zpointer) uncoloured to %#x", got)
	}
	// One generation: colour bits above a 42-bit offset; any mapped view.
	l := layout{zgc: zgcMultiMapped, zOffsetMask: 1<<42 - 1, zView: 1 << 44}
	if got, want := l.oop(0x123456|1<<42), uint64(0x123456|1<<44); got != want {
		t.Errorf("marked0 oop: %#x, want %#x", got, want)
	}
	if got := l.oop(0); got != 0 {
		t.Errorf("null: %#x", got)
	}
	// BPFLayout.Uncolour: an oop with a bit of the bad mask is not
	// trusted; UncolourAny takes it anyway.
	b := BPFLayout{ZGC: 2}
	good := uint64(addr)<<14 | 1<<13
	if got := b.Uncolour(good, 1<<12); got != addr {
		t.Errorf("load-good oop: %#x", got)
	}
	if got := b.Uncolour(good, 1<<13); got != 0 {
		t.Errorf("load-bad oop trusted: %#x", got)
	}
	if got := b.UncolourAny(good); got != addr {
		t.Errorf("UncolourAny: %#x", got)
	}
}

func TestZHash(t *testing.T) {
	// ZHash::uint32_to_uint32, as the serviceability agent's ZHash.java
	// computes it (its six steps ported to Python: the values below).
	for _, c := range []struct{ in, want uint32 }{{0, 0xcaa3caa3}, {1, 0x12d60bf6}, {12345, 0x5ab20308}} {
		if got := zHash(c.in); got != c.want {
			t.Errorf("zHash(%d) = %#x, want %#x", c.in, got, c.want)
		}
	}
}
