package tier

import "slices"

// Overhead is what L1 spends per entry besides the entry itself: otter's
// node (key, value, links, expiry, weight) and its slot in the hash
// table, measured with the composer's TestL1AccountsWhatItHolds. A
// stitched page counts it too, being held the same way (see Pages).
const Overhead = 144

// AllocSize is the memory a heap allocation of n bytes takes: Go rounds
// small ones up to a size class and large ones to whole pages. Weights
// (Options.Size, a subtree's Size) are sums of it.
func AllocSize(n int) int {
	if n <= 0 {
		return 0
	}
	if n > sizeClasses[len(sizeClasses)-1] {
		return (n + 8191) &^ 8191
	}
	i, _ := slices.BinarySearch(sizeClasses[:], n)
	return sizeClasses[i]
}

// StrSize is the memory of a string that has its own allocation.
func StrSize(s string) int { return AllocSize(len(s)) }

// sizeClasses are the Go allocator's small object sizes (Go 1.26,
// internal/runtime/gc.SizeClassToSize).
var sizeClasses = [...]int{8, 16, 24, 32, 48, 64, 80, 96, 112, 128, 144, 160, 176, 192, 208, 224, 240, 256,
	288, 320, 352, 384, 416, 448, 480, 512, 576, 640, 704, 768, 896, 1024, 1152, 1280, 1408, 1536, 1792,
	2048, 2304, 2688, 3072, 3200, 3456, 4096, 4864, 5376, 6144, 6528, 6784, 6912, 8192, 9472, 9728, 10240,
	10880, 12288, 13568, 14336, 16384, 18432, 19072, 20480, 21760, 24576, 27264, 28672, 32768}
