package hsmem

import (
	"errors"
	"fmt"
)

// rawField is one Java field as InstanceKlass describes it: constant pool
// indices of its name and signature, and its offset in the object.
type rawField struct {
	name, sig uint32
	offset    uint32
	access    uint32
}

// JVM_ACC_STATIC: static fields live in the mirror, not in instances.
const accStatic = 0x0008

// readUnsigned5 decodes one UNSIGNED5 number (HotSpot unsigned5.hpp,
// the encoding of InstanceKlass::_fieldinfo_stream from JDK 21): a byte
// below 192 is the last one; 0 never occurs; each byte carries 6 more bits
// after the first.
func readUnsigned5(b []byte, pos int) (uint32, int, error) {
	const (
		lgH = 6
		x   = 1                    // excluded byte value (0)
		l   = 256 - (1 << lgH) - x // 191 "low" bytes end a number
	)
	var sum uint32
	shift := uint(0)
	for i := 0; i < 5; i++ {
		if pos+i >= len(b) {
			return 0, pos, errors.New("UNSIGNED5 number runs past the end")
		}
		c := uint32(b[pos+i])
		if c < x {
			return 0, pos, fmt.Errorf("UNSIGNED5: excluded byte 0 at %d", pos+i)
		}
		sum += (c - x) << shift
		if i == 0 {
			if c-x < l {
				return sum, pos + 1, nil
			}
			shift = lgH
			continue
		}
		if c < x+l || i == 4 {
			return sum, pos + i + 1, nil
		}
		shift += lgH
	}
	panic("unreachable")
}

// FieldFlags bits that add optional numbers after a field in the stream
// (fieldInfo.hpp): initializer, generic signature, contention group.
const (
	ffInitialized = 1 << 0
	ffGeneric     = 1 << 2
	ffContended   = 1 << 4
)

// parseFieldStream decodes the Java (not injected) fields of a JDK 21+
// _fieldinfo_stream:
//
//	j=num_java_fields k=num_injected_fields Field[j+k]
//	Field := name sig offset access flags [initval] [gsig] [group]
func parseFieldStream(b []byte) ([]rawField, error) {
	j, pos, err := readUnsigned5(b, 0)
	if err != nil {
		return nil, err
	}
	_, pos, err = readUnsigned5(b, pos)
	if err != nil {
		return nil, err
	}
	if j > 65535 {
		return nil, fmt.Errorf("field stream claims %d fields", j)
	}
	out := make([]rawField, 0, j)
	for i := uint32(0); i < j; i++ {
		var v [5]uint32
		for n := range v {
			if v[n], pos, err = readUnsigned5(b, pos); err != nil {
				return nil, fmt.Errorf("field %d: %w", i, err)
			}
		}
		for _, bit := range []uint32{ffInitialized, ffGeneric, ffContended} {
			if v[4]&bit != 0 {
				if _, pos, err = readUnsigned5(b, pos); err != nil {
					return nil, fmt.Errorf("field %d: %w", i, err)
				}
			}
		}
		out = append(out, rawField{name: v[0], sig: v[1], offset: v[2], access: v[3]})
	}
	return out, nil
}

// Slots of one field in the JDK 8-20 InstanceKlass::_fields array of u2
// (fieldInfo.hpp FieldOffset).
const (
	fiAccess = iota
	fiName
	fiSig
	fiInitval
	fiLowOffset
	fiHighOffset
	fiSlots
)

// parseOldFields decodes the first count fields of a JDK 8-20 _fields
// array (6 u2 per field). The offset is packed with a tag in its low
// tagSize bits; tagOffset says the offset is set.
func parseOldFields(u2s []uint16, count int, tagSize, tagOffset uint32) ([]rawField, error) {
	if count*fiSlots > len(u2s) {
		return nil, fmt.Errorf("%d fields need %d u2, array has %d", count, count*fiSlots, len(u2s))
	}
	out := make([]rawField, 0, count)
	for i := 0; i < count; i++ {
		s := u2s[i*fiSlots : (i+1)*fiSlots]
		packed := uint32(s[fiHighOffset])<<16 | uint32(s[fiLowOffset])
		if tagSize > 0 && packed&(1<<tagSize-1) != tagOffset {
			return nil, fmt.Errorf("field %d has no offset yet (tag %d)", i, packed&(1<<tagSize-1))
		}
		out = append(out, rawField{name: uint32(s[fiName]), sig: uint32(s[fiSig]), offset: packed >> tagSize, access: uint32(s[fiAccess])})
	}
	return out, nil
}

// javaField is a resolved instance field.
type javaField struct {
	offset uint32
	sig    string
}

// javaFields reads the instance fields of klass and its superclasses,
// by name (a subclass's field hides its superclass's).
func (r *resolver) javaFields(klass uint64) (map[string]javaField, error) {
	out := map[string]javaField{}
	superOff := r.off("Klass", "_super")
	constOff := r.off("InstanceKlass", "_constants")
	cpSize := r.t.types["ConstantPool"].size
	cpLenOff := r.off("ConstantPool", "_length")
	arrLen := r.off("Array<int>", "_length")
	if r.err != nil {
		return nil, r.err
	}
	for depth := 0; klass != 0 && depth < 16; depth++ {
		cp := r.word(klass + constOff)
		cpLen := uint64(uint32(r.word(cp + cpLenOff)))
		if r.err != nil {
			return nil, r.err
		}
		fields, err := r.rawFields(klass, arrLen)
		if err != nil {
			return nil, err
		}
		if err := r.nameFields(out, fields, cp, cpSize, cpLen); err != nil {
			return nil, err
		}
		klass = r.word(klass + superOff)
	}
	return out, r.err
}

// rawFields reads the fields klass itself declares: the UNSIGNED5 stream
// from JDK 21, the array of u2 before.
func (r *resolver) rawFields(klass, arrLen uint64) ([]rawField, error) {
	if f, ok := r.lookup("InstanceKlass", "_fieldinfo_stream"); ok {
		return r.streamFields(klass, f.offset, arrLen)
	}
	return r.oldFields(klass, arrLen)
}

// streamFields reads and decodes the JDK 21+ _fieldinfo_stream of klass,
// at off in it.
func (r *resolver) streamFields(klass, off, arrLen uint64) ([]rawField, error) {
	arr := r.word(klass + off)
	data := r.off("Array<u1>", "_data")
	n := uint64(uint32(r.word(arr + arrLen)))
	if r.err != nil {
		return nil, r.err
	}
	if n > 1<<20 {
		return nil, fmt.Errorf("field stream of %d bytes", n)
	}
	b := make([]byte, n)
	if err := r.m.read(arr+data, b); err != nil {
		return nil, err
	}
	return parseFieldStream(b)
}

// oldFields reads and decodes the JDK 8-20 _fields array of klass.
func (r *resolver) oldFields(klass, arrLen uint64) ([]rawField, error) {
	arr := r.word(klass + r.off("InstanceKlass", "_fields"))
	data := r.off("Array<u2>", "_data")
	cnt := uint64(uint16(r.word(klass + r.off("InstanceKlass", "_java_fields_count"))))
	n := uint64(uint32(r.word(arr + arrLen)))
	tagSize, ok1 := r.t.ints["FIELDINFO_TAG_SIZE"]
	tagOffset, ok2 := r.t.ints["FIELDINFO_TAG_OFFSET"]
	if !ok1 {
		r.fail("no FIELDINFO_TAG_SIZE constant")
	}
	if !ok2 {
		tagSize, tagOffset = 0, 0
	}
	if r.err != nil {
		return nil, r.err
	}
	if n > 1<<20 || cnt*fiSlots > n {
		return nil, fmt.Errorf("implausible field array (%d u2 for %d fields)", n, cnt)
	}
	b := make([]byte, cnt*fiSlots*2)
	if err := r.m.read(arr+data, b); err != nil {
		return nil, err
	}
	u2s := make([]uint16, cnt*fiSlots)
	for i := range u2s {
		u2s[i] = u16(b, uint64(2*i))
	}
	return parseOldFields(u2s, int(cnt), uint32(tagSize), uint32(tagOffset))
}

// nameFields adds the instance fields to out under the names the
// constant pool cp (cpLen slots after a header of cpSize bytes) gives
// them, unless a subclass's field already has the name.
func (r *resolver) nameFields(out map[string]javaField, fields []rawField, cp, cpSize, cpLen uint64) error {
	for _, f := range fields {
		if f.access&accStatic != 0 {
			continue
		}
		if uint64(f.name) >= cpLen || uint64(f.sig) >= cpLen {
			return fmt.Errorf("field name index %d outside the constant pool (%d)", f.name, cpLen)
		}
		name, err := r.symbolAt(cp + cpSize + 8*uint64(f.name))
		if err != nil {
			return err
		}
		sig, err := r.symbolAt(cp + cpSize + 8*uint64(f.sig))
		if err != nil {
			return err
		}
		if _, ok := out[name]; !ok {
			out[name] = javaField{offset: f.offset, sig: sig}
		}
	}
	return nil
}

// symbolAt reads the Symbol a constant pool slot points to.
func (r *resolver) symbolAt(slot uint64) (string, error) {
	sym := r.word(slot)
	lenOff := r.off("Symbol", "_length")
	body := r.off("Symbol", "_body")
	if r.err != nil {
		return "", r.err
	}
	h := make([]byte, body)
	if err := r.m.read(sym, h); err != nil {
		return "", err
	}
	n := uint64(u16(h, lenOff))
	b := make([]byte, n)
	if err := r.m.read(sym+body, b); err != nil {
		return "", err
	}
	return string(b), nil
}
