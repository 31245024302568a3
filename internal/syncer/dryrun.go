package syncer

import (
	"context"

	"github.com/syncd-dev/syncd/internal/identity"
	"github.com/syncd-dev/syncd/internal/sink"
)

// dryRunSink answers every write as Omni would on success, and sends
// nothing.
type dryRunSink struct{}

func (dryRunSink) Create(_ context.Context, u identity.User) (sink.User, error) {
	return sink.User{ID: "(dry-run)", UserName: u.UserName, DisplayName: u.DisplayName, Active: true, Attributes: u.Attributes}, nil
}
func (dryRunSink) Patch(context.Context, string, []sink.Change) error { return nil }
func (dryRunSink) CreateGroup(_ context.Context, name string, members []string) (sink.Group, error) {
	return sink.Group{ID: "(dry-run)", DisplayName: name, Members: members}, nil
}
func (dryRunSink) PatchGroup(context.Context, string, sink.GroupPatch) error { return nil }
func (dryRunSink) DeleteGroup(context.Context, string) error                 { return nil }
func (dryRunSink) ListGroups(context.Context, func(sink.Group) error) error  { return nil }
func (dryRunSink) SetActive(context.Context, string, bool) error             { return nil }
func (dryRunSink) Delete(context.Context, string) error                      { return nil }
func (dryRunSink) Get(_ context.Context, id string) (sink.User, error) {
	return sink.User{ID: id, Active: true}, nil
}
func (dryRunSink) FindByUserName(context.Context, string) (sink.User, bool, error) {
	return sink.User{}, false, nil
}
