package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/rs/zerolog"

	"github.com/syncd-dev/syncd/internal/config"
	"github.com/syncd-dev/syncd/internal/identity"
	"github.com/syncd-dev/syncd/internal/source"
	"github.com/syncd-dev/syncd/internal/state"
	"github.com/syncd-dev/syncd/internal/syncer"
)

// check tries each dependency in turn and says what works; it fails when
// any of them does not.
func check(ctx context.Context, cfg *config.Config, stdout io.Writer, log zerolog.Logger) error {
	failed := 0
	line := func(name string, err error, okText string) {
		if err != nil {
			failed++
			fmt.Fprintf(stdout, "FAIL %-8s %v\n", name, err)
			return
		}
		fmt.Fprintf(stdout, "ok   %-8s %s\n", name, okText)
	}

	incremental := false
	src, err := source.New(cfg.LDAP.Source(), log)
	if err == nil {
		cctx, cancel := context.WithTimeout(ctx, 2*cfg.LDAP.Timeout.D())
		var n int
		n, err = src.Check(cctx)
		cancel()
		line("ldap", err, fmt.Sprintf("%s: bound as %q, %d entries in scope", cfg.LDAP.URL, cfg.LDAP.BindDN, n))
		if err == nil {
			cctx, cancel := context.WithTimeout(ctx, 2*cfg.LDAP.Timeout.D())
			mech, why := src.IncrementalMode(cctx)
			cancel()
			switch {
			case mech == "":
				fmt.Fprintf(stdout, "-    %-8s full reads every run: %s\n", "changes", why)
			case src.GroupsEnabled() && src.GroupChangesProblem(mech) != "":
				fmt.Fprintf(stdout, "-    %-8s full reads every run: %s would serve the users, but %s, and group members need every user\n", "changes", mech, src.GroupChangesProblem(mech))
			default:
				incremental = true
				what := "users"
				if src.GroupsEnabled() {
					what = "users and groups"
				}
				fmt.Fprintf(stdout, "ok   %-8s %s reads only the %s that changed (%s); a full read at least every %s\n", "changes", mech, what, why, cfg.LDAP.FullReadEvery.D())
			}
		}
	} else {
		line("ldap", err, "")
	}

	checkKeys(ctx, cfg, log, line)
	if len(cfg.Safety.ProtectedUsers) == 0 {
		// An Omni API key lives as long as the user who created it: a run
		// that deactivates that user revokes syncd's own key.
		fmt.Fprintf(stdout, "WARN %-8s safety.protectedUsers is empty: list the Omni user who created syncd's API key, or a run that deactivates that user revokes the key\n", "protect")
	}

	if url := cfg.State.DatabaseURL.Reveal(); url == "" {
		fmt.Fprintln(stdout, "-    database not configured (only --dry-run can run)")
	} else {
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		store, err := state.Open(cctx, url)
		if err == nil {
			err = store.Ping(cctx)
			if err == nil {
				line("database", nil, "reachable")
				schemaStatus(cctx, store, stdout, line)
				heldOps(cctx, store, stdout)
				if incremental {
					unlinkedCanaries(cctx, store, cfg, stdout)
				}
			}
			store.Close()
		}
		cancel()
		if err != nil {
			line("database", err, "")
		}
	}
	if failed > 0 {
		return &exitError{code: exitFailed, err: fmt.Errorf("%d check(s) failed", failed)}
	}
	return nil
}

// checkKeys tries each API key on its own, so that a refused key is named
// (by position, never by value) rather than hidden behind the others.
func checkKeys(ctx context.Context, cfg *config.Config, log zerolog.Logger, line func(string, error, string)) {
	keys := cfg.SCIM.Keys()
	if len(keys) == 0 {
		_, err := syncer.NewSink(cfg, syncer.Wiring{Log: log})
		line("scim", err, "")
		return
	}
	for i, k := range keys {
		client, err := syncer.NewSink(withKey(cfg, k), syncer.Wiring{Log: log, UserAgent: "syncd/" + version})
		if err == nil {
			cctx, cancel := context.WithTimeout(ctx, 2*cfg.SCIM.Timeout.D())
			err = client.Check(cctx)
			cancel()
		}
		if err != nil {
			err = fmt.Errorf("API key %d: %w", i+1, err)
		}
		line("scim", err, fmt.Sprintf("%s: API key %d accepted", cfg.SCIM.URL, i+1))
	}
}

// withKey is cfg with k as its only API key.
func withKey(cfg *config.Config, k string) *config.Config {
	c := *cfg
	c.SCIM.Token, c.SCIM.TokenFile = config.Secret(k), ""
	c.SCIM.Tokens, c.SCIM.TokenFiles = nil, nil
	return &c
}

// schemaStatus says whether the schema is up to date; migrations pending are a
// warning, since `syncd migrate` is the next step, and a schema newer than
// this syncd is a failure.
func schemaStatus(ctx context.Context, store *state.Store, stdout io.Writer, line func(string, error, string)) {
	applied, pending, err := store.MigrationStatus(ctx)
	switch {
	case err != nil:
		line("schema", err, "")
	case len(pending) > 0:
		what := "migrations"
		if len(pending) == 1 {
			what = "migration"
		}
		fmt.Fprintf(stdout, "WARN %-8s database: %d %s pending: %s; run syncd migrate\n", "schema", len(pending), what, strings.Join(pending, ", "))
	default:
		line("schema", nil, fmt.Sprintf("up to date (%d migrations applied)", len(applied)))
	}
}

// heldOps lists the operations Omni refused in a way no retry can fix, with
// what the admin must do; they are not sent again while the entry is
// unchanged. A database not yet migrated has none.
func heldOps(ctx context.Context, store *state.Store, stdout io.Writer) {
	held, err := store.HeldOps(ctx)
	if err != nil || len(held) == 0 {
		return
	}
	fmt.Fprintf(stdout, "WARN %-8s %d operation(s) need an admin; they are not retried while the directory entry is unchanged:\n", "held", len(held))
	ids := make([]string, 0, len(held))
	for id := range held {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		h := held[id]
		fmt.Fprintf(stdout, "     %s %s (%s): %s; to fix: %s\n", h.Kind, h.UserName, id, h.Reason, h.Action)
	}
}

// unlinkedCanaries warns of the canaries that are no linked user: an
// incremental read sees a linked user go, but any other canary is checked
// only by the full reads. A database not yet migrated has no users.
func unlinkedCanaries(ctx context.Context, store *state.Store, cfg *config.Config, stdout io.Writer) {
	if len(cfg.Safety.CanaryDNs) == 0 {
		return
	}
	known, err := store.LoadUsers(ctx)
	if err != nil {
		return
	}
	linked := make(map[string]bool, len(known))
	for _, k := range known {
		if k.Status == identity.StatusActive {
			linked[identity.NormalizeDN(k.DN)] = true
		}
	}
	for _, dn := range cfg.Safety.CanaryDNs {
		if !linked[identity.NormalizeDN(dn)] {
			fmt.Fprintf(stdout, "WARN %-8s safety.canaryDNs: %s is no linked user: reading only what changed cannot see it go, only the full reads (every %s) check it\n",
				"canary", dn, cfg.LDAP.FullReadEvery.D())
		}
	}
}

type auditFilter struct {
	since  time.Duration
	user   string
	run    int64
	json   bool
	verify bool // check the hash chain instead of listing events
}

func audit(ctx context.Context, cfg *config.Config, stdout io.Writer, f auditFilter) error {
	url := cfg.State.DatabaseURL.Reveal()
	if url == "" {
		return &exitError{code: exitConfig, err: errors.New("state.databaseURL: required for audit")}
	}
	store, err := state.Open(ctx, url)
	if err != nil {
		return fmt.Errorf("open database: %w", err)
	}
	defer store.Close()
	if f.verify {
		return verifyAudit(ctx, store, stdout)
	}
	evs, err := store.ListAudit(ctx, state.AuditFilter{Since: time.Now().Add(-f.since), UserName: strings.ToLower(f.user), RunID: f.run})
	if err != nil {
		return fmt.Errorf("read audit log: %w", err)
	}
	if f.json {
		enc := json.NewEncoder(stdout)
		for _, ev := range evs {
			if err := enc.Encode(ev); err != nil {
				return err
			}
		}
		return nil
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TIME\tRUN\tACTION\tUSER\tOUTCOME\tSTATUS\tDETAIL")
	for _, ev := range evs {
		detail := ev.Detail
		fields := make([]string, 0, len(ev.Changes))
		for field := range ev.Changes {
			fields = append(fields, field)
		}
		sort.Strings(fields)
		for _, field := range fields {
			c := ev.Changes[field]
			detail = strings.TrimSpace(fmt.Sprintf("%s %s: %q -> %q", detail, field, c.Before, c.After))
		}
		if ev.Error != "" {
			detail = strings.TrimSpace(detail + " error: " + ev.Error)
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%d\t%s\n", ev.At.UTC().Format(time.RFC3339), ev.RunID, ev.Action, ev.UserName, ev.Outcome, ev.HTTPStatus, detail)
	}
	return tw.Flush()
}

// verifyAudit recomputes the audit log's hash chain and checks its
// append-only protection, failing when either is broken.
func verifyAudit(ctx context.Context, store *state.Store, stdout io.Writer) error {
	v, err := store.VerifyAudit(ctx)
	if err != nil {
		return fmt.Errorf("verify audit log: %w", err)
	}
	if v.Unhashed > 0 {
		fmt.Fprintf(stdout, "%d earliest event(s) predate the hash chain and cannot be verified\n", v.Unhashed)
	}
	if !v.OK {
		fmt.Fprintf(stdout, "audit log chain broken at %s\n", v.Break)
		fmt.Fprintf(stdout, "%d event(s) before it verified\n", v.Checked)
		return &exitError{code: exitFailed, err: fmt.Errorf("audit log chain broken at seq %d (event id %d)", v.Break.Seq, v.Break.ID),
			hint: "the audit log was changed outside syncd; keep the database as it is for investigation"}
	}
	fmt.Fprintf(stdout, "audit log verified: %d events, chain intact\n", v.Checked)
	if v.HeadSeq > 0 {
		// Truncating the log's end leaves an intact chain: a head recorded
		// elsewhere shows it.
		fmt.Fprintf(stdout, "head: seq %d sha256 %s\n", v.HeadSeq, v.HeadHash)
	}
	if err := store.CheckAuditIntegrity(ctx); err != nil {
		return &exitError{code: exitFailed, err: err}
	}
	return nil
}
