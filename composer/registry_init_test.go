package composer

func init() { registerThrough(minimalSpec("from-init")) }
