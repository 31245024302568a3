package slapdtest

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"syscall"
	"time"
)

// Restart stops slapd as an administrator would (SIGTERM, so that it shuts
// down cleanly and writes its state, syncprov's contextCSN included) and
// starts it again on the same port with the same database, so that URL
// stays valid for clients built before the restart. What lives only in
// memory, such as syncprov's session log, is lost, as it is on a real
// server.
func (s *Server) Restart(ctx context.Context) error {
	if s.external {
		return errors.New("cannot restart an external server")
	}
	if s.cmd == nil || s.cmd.Process == nil {
		return errors.New("slapd is not running")
	}
	u, err := url.Parse(s.URL)
	if err != nil {
		return fmt.Errorf("restart: parse %s: %w", s.URL, err)
	}
	port, err := strconv.Atoi(u.Port())
	if err != nil {
		return fmt.Errorf("restart: port of %s: %w", s.URL, err)
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, startTimeout)
		defer cancel()
	}
	if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		return fmt.Errorf("restart: stop slapd: %w", err)
	}
	select {
	case <-s.exited:
	case <-ctx.Done():
		s.cmd.Process.Kill()
		<-s.exited
		return fmt.Errorf("restart: slapd did not stop: %w", ctx.Err())
	}
	// slapd sets SO_REUSEADDR, but the port may briefly be in use by
	// a connection still closing; a few tries cover that.
	for attempt := 0; ; attempt++ {
		err = s.run(ctx, port)
		if err == nil || attempt == 4 || !errors.Is(err, errExited) {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(50 * time.Millisecond):
		}
	}
}
