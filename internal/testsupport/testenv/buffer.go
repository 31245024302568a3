package testenv

import (
	"bytes"
	"sync"
)

// Buffer is an io.Writer safe for concurrent use, for capturing the log or
// output of something that writes from other goroutines (a daemon, a sender
// goroutine) while the test reads it.
type Buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

// String returns everything written so far.
func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}
