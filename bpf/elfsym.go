package bpf

import (
	"bytes"
	"cmp"
	"debug/elf"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
)

// funcSymbols looks functions up by name in the symbol table of f (the
// section of type SHT_SYMTAB, .symtab; not .dynsym), all names at once.
// For each name it returns the file offset of the first symbol of that
// name that is a function (STT_FUNC) with a non-zero address in an
// executable segment, and whether there is one: what a search of
// File.Symbols finds. It fails as File.Symbols does: with
// elf.ErrNoSymbols when f has no symbol table (stripped).
//
// File.Symbols decodes the whole table, with a string for each name: in a
// libjvm.so, tens of thousands of them, and tens of milliseconds of CPU
// to find one function. Here the string table is searched for the names
// (each followed by its NUL), then the symbol table for functions whose
// names start at one of the places found, both read through one small
// buffer: reading them whole (4 MB) costs more in fresh memory than the
// search.
// 32-bit files, and names that no symbol can have in a string table
// (empty, or with a NUL), take File.Symbols.
func funcSymbols(f *elf.File, names ...string) (offs []uint64, found []bool, err error) {
	return scanFuncSymbols(f, names, 64<<10)
}

// scanFuncSymbols is funcSymbols reading chunk bytes of a section at a
// time.
func scanFuncSymbols(f *elf.File, names []string, chunk int) (offs []uint64, found []bool, err error) {
	chunk = max(chunk, 1)
	if f.Class != elf.ELFCLASS64 || slices.ContainsFunc(names, func(n string) bool { return n == "" || strings.IndexByte(n, 0) >= 0 }) {
		return funcSymbolsDecoded(f, names)
	}
	// The checks, and errors, of File.Symbols (debug/elf's
	// getSymbols64), made before reading.
	sec := f.SectionByType(elf.SHT_SYMTAB)
	if sec == nil || sec.Size == 0 {
		return nil, nil, elf.ErrNoSymbols
	}
	if sec.Size%elf.Sym64Size != 0 {
		return nil, nil, errors.New("length of symbol section is not a multiple of Sym64Size")
	}
	if sec.Link == 0 || int(sec.Link) >= len(f.Sections) {
		return nil, nil, errors.New("cannot load string table section: section has invalid string table link")
	}
	longest := 0
	for _, n := range names {
		longest = max(longest, len(n))
	}
	buf := make([]byte, max(chunk, elf.Sym64Size)+longest)
	at, err := nameOffsets(f.Sections[sec.Link], names, buf, chunk, longest)
	if err != nil {
		return nil, nil, fmt.Errorf("cannot load string table section: %w", err)
	}
	offs, found = make([]uint64, len(names)), make([]bool, len(names))
	left := len(names)
	bo := f.ByteOrder
	r := sec.Open()
	symChunk := uint64(max(chunk/elf.Sym64Size, 1) * elf.Sym64Size)
	for read := uint64(0); len(at) > 0 && left > 0 && read < sec.Size; {
		n := min(symChunk, sec.Size-read)
		syms := buf[:n]
		if _, err := io.ReadFull(r, syms); err != nil {
			return nil, nil, fmt.Errorf("cannot load symbol section: %w", err)
		}
		if read == 0 {
			syms = syms[elf.Sym64Size:] // the null symbol
		}
		read += n
		// Elf64_Sym: st_name (4 bytes), st_info, st_other, st_shndx
		// (2), st_value (8), st_size (8).
		for ; len(syms) > 0; syms = syms[elf.Sym64Size:] {
			if elf.ST_TYPE(syms[4]) != elf.STT_FUNC {
				continue
			}
			value := bo.Uint64(syms[8:16])
			if value == 0 {
				continue
			}
			start := bo.Uint32(syms[0:4])
			i, _ := slices.BinarySearchFunc(at, start, func(p nameAt, s uint32) int { return cmp.Compare(p.off, s) })
			for ; i < len(at) && at[i].off == start; i++ {
				if k := at[i].name; !found[k] {
					if off, ok := fileOffset(f, value); ok {
						offs[k], found[k] = off, true
						left--
					}
				}
			}
		}
	}
	return offs, found, nil
}

// nameAt is where names[name] is in a string table: a symbol whose name
// starts at off has that name.
type nameAt struct {
	off  uint32
	name int
}

// nameOffsets finds, in the string table strs, every offset where one of
// names is followed by a NUL (a name can also be the tail of a longer
// string), sorted by offset. It reads strs chunk bytes at a time into
// buf, which holds longest more: the end of a chunk is kept for a name
// that goes on in the next.
func nameOffsets(strs *elf.Section, names []string, buf []byte, chunk, longest int) ([]nameAt, error) {
	pats := make([][]byte, len(names))
	for i, n := range names {
		pats[i] = append([]byte(n), 0)
	}
	anchor := make([]int, len(names)) // where in pats[i] the search starts
	var out []nameAt
	r := strs.Open()
	base, keep := uint64(0), 0 // buf[:keep], kept from the last chunk, is at base in strs
	for read := uint64(0); read < strs.Size; {
		n := int(min(uint64(chunk), strs.Size-read))
		if _, err := io.ReadFull(r, buf[keep:keep+n]); err != nil {
			return nil, err
		}
		data := buf[:keep+n]
		if read == 0 {
			// Search from the byte of each name the first chunk has
			// least of: mangled C++ names all begin with "_Z", and
			// stopping at every one costs more than the rest.
			var freq [256]int
			for _, c := range data {
				freq[c]++
			}
			for k, pat := range pats {
				for i, c := range pat {
					if freq[c] < freq[pat[anchor[k]]] {
						anchor[k] = i
					}
				}
			}
		}
		read += uint64(n)
		for k, pat := range pats {
			a := anchor[k]
			// What lies within the kept bytes was found before.
			for p := max(keep-len(pat)+1, 0); p+len(pat) <= len(data); p++ {
				j := bytes.Index(data[p+a:], pat[a:])
				if j < 0 {
					break
				}
				if p += j; !bytes.Equal(data[p:p+a], pat[:a]) {
					continue
				}
				if off := base + uint64(p); off <= math.MaxUint32 {
					out = append(out, nameAt{uint32(off), k})
				}
			}
		}
		next := min(longest, len(data))
		copy(buf, data[len(data)-next:])
		base += uint64(len(data) - next)
		keep = next
	}
	slices.SortFunc(out, func(a, b nameAt) int { return cmp.Compare(a.off, b.off) })
	return out, nil
}

// funcSymbolsDecoded is funcSymbols through File.Symbols.
func funcSymbolsDecoded(f *elf.File, names []string) (offs []uint64, found []bool, err error) {
	syms, err := f.Symbols()
	if err != nil {
		return nil, nil, err
	}
	offs, found = make([]uint64, len(names)), make([]bool, len(names))
	for _, s := range syms {
		if elf.ST_TYPE(s.Info) != elf.STT_FUNC || s.Value == 0 {
			continue
		}
		for i, name := range names {
			if found[i] || s.Name != name {
				continue
			}
			if off, ok := fileOffset(f, s.Value); ok {
				offs[i], found[i] = off, true
			}
		}
	}
	return offs, found, nil
}
