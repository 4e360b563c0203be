package compress

// crc32Combine returns the CRC-32 (IEEE) of a||b from crcA, the CRC of a,
// crcB, the CRC of b, and lenB, the length of b: a gzip stream's CRC is
// of every uncompressed byte, and a spliced piece's is known already
// (zlib's crc32_combine; hash/crc32 has none). It costs about 60
// multiplications in GF(2), whatever the lengths.
func crc32Combine(crcA, crcB uint32, lenB int64) uint32 {
	return multModP(x2nModP(uint64(lenB), 3), crcA) ^ crcB
}

// crcPoly is the reflected IEEE polynomial.
const crcPoly = 0xedb88320

// multModP returns a×b modulo the CRC polynomial, in the reflected bit
// order the CRC uses (x^0 is the top bit).
func multModP(a, b uint32) uint32 {
	m := uint32(1) << 31
	var p uint32
	for {
		if a&m != 0 {
			p ^= b
			if a&(m-1) == 0 {
				break
			}
		}
		m >>= 1
		if b&1 != 0 {
			b = b>>1 ^ crcPoly
		} else {
			b >>= 1
		}
	}
	return p
}

// x2nModP returns x^(n×2^k) modulo the polynomial.
func x2nModP(n uint64, k uint) uint32 {
	p := uint32(1) << 31 // x^0
	for n != 0 {
		if n&1 != 0 {
			p = multModP(x2nTable[k&31], p)
		}
		n >>= 1
		k++
	}
	return p
}

// x2nTable holds x^(2^k) modulo the polynomial, for k < 32.
var x2nTable = func() (t [32]uint32) {
	p := uint32(1) << 30 // x^1
	for k := range t {
		t[k] = p
		p = multModP(p, p)
	}
	return t
}()
