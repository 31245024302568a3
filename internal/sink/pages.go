package sink

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/syncd-dev/syncd/internal/textutil"
)

// resourcePage is one page of a ListResponse, of users or groups.
type resourcePage[T any] struct {
	Total     int
	Resources []T
}

// decodeListOf reads a ListResponse whose resources item decodes; kind
// ("user", "group") names them in errors. A resource item refuses fails the
// page: a listing that silently skipped one would plan as if it were gone.
func decodeListOf[T any](data []byte, kind string, item func(map[string]json.RawMessage) (T, error)) (resourcePage[T], error) {
	fields, err := decodeObject(data, kind+" list")
	if err != nil {
		return resourcePage[T]{}, err
	}
	var p resourcePage[T]
	raw, ok := lookupFold(fields, "totalResults")
	if !ok {
		return p, fmt.Errorf("decode %s list: no totalResults", kind)
	}
	s, _ := looseString(raw)
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 {
		return p, fmt.Errorf("decode %s list: bad totalResults %.40q", kind, s)
	}
	p.Total = n
	raw, ok = lookupFold(fields, "Resources")
	if !ok || isNull(raw) {
		return p, nil
	}
	var items []map[string]json.RawMessage
	if err := json.Unmarshal(raw, &items); err != nil {
		return resourcePage[T]{}, fmt.Errorf("decode %s list: resources: %w", kind, err)
	}
	p.Resources = make([]T, 0, len(items))
	for i, it := range items {
		v, err := item(it)
		if err != nil {
			return resourcePage[T]{}, fmt.Errorf("decode %s list: resource %d: %w", kind, i, err)
		}
		p.Resources = append(p.Resources, v)
	}
	return p, nil
}

// decodeObject reads a JSON object into its members, for the lenient,
// case-insensitive lookups SCIM needs.
func decodeObject(data []byte, kind string) (map[string]json.RawMessage, error) {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(data, &fields); err != nil {
		return nil, fmt.Errorf("decode %s: %w", kind, err)
	}
	if fields == nil {
		return nil, fmt.Errorf("decode %s: not a JSON object", kind)
	}
	return fields, nil
}

// cleanField reads a member as a string cleaned for storage; "" when it is
// absent or null.
func cleanField(fields map[string]json.RawMessage, name string) string {
	raw, ok := lookupFold(fields, name)
	if !ok {
		return ""
	}
	s, _ := looseString(raw)
	return textutil.Clean(s)
}

// readID reads a resource's id as Omni sent it and refuses one syncd could
// not store (see checkIDOf).
func readID(fields map[string]json.RawMessage, kind string) (string, error) {
	var id string
	if raw, ok := lookupFold(fields, "id"); ok {
		id, _ = looseString(raw)
	}
	return id, checkIDOf(kind, id)
}

// collectionPath checks a configured collection name: Omni's docs write
// it lower case (the default), its spec and SDK capitalised, and nothing
// else is known to work.
func collectionPath(lower, got string) (string, error) {
	switch got {
	case "":
		return lower, nil
	case lower, strings.ToUpper(lower[:1]) + lower[1:]:
		return got, nil
	}
	return "", fmt.Errorf("scim client: %s path %q: must be %s or %s", lower, got, lower, strings.ToUpper(lower[:1])+lower[1:])
}

// getOne reads one resource at rel with retries.
func getOne[T any](ctx context.Context, c *Client, rel string, decode func(*response) (T, error)) (T, error) {
	var out T
	err := c.retry(ctx, &op{method: http.MethodGet}, func(ctx context.Context) error {
		resp, err := c.send(ctx, http.MethodGet, rel, "", nil)
		if err != nil {
			return err
		}
		out, err = decode(resp)
		return err
	})
	return out, err
}

// getPage is one GET of a listing page, to run inside a retry loop.
func getPage[T any](ctx context.Context, c *Client, rel, query string, decode func([]byte) (resourcePage[T], error)) (resourcePage[T], error) {
	resp, err := c.send(ctx, http.MethodGet, rel, query, nil)
	if err != nil {
		return resourcePage[T]{}, err
	}
	if err := checkJSON(resp); err != nil {
		return resourcePage[T]{}, err
	}
	return decode(resp.body)
}

func pageQuery(start int) string {
	return "startIndex=" + strconv.Itoa(start) + "&count=" + strconv.Itoa(pageSize)
}

// listAll calls fn for every resource at rel, a page of 100 at a time, each
// page its own retried operation. Omni sorts by creation time, so resources
// created meanwhile land on later pages and are still seen; one is never
// passed twice even if pages shift. One deleted meanwhile can shift another
// past a page boundary and out of this listing; callers use listings only
// for planning, where the next run catches up.
func listAll[T any](ctx context.Context, c *Client, kind, rel string, decode func([]byte) (resourcePage[T], error), id func(T) string, fn func(T) error) error {
	return walkPages(kind, func(start int) (resourcePage[T], error) {
		var p resourcePage[T]
		err := c.retry(ctx, &op{method: http.MethodGet}, func(ctx context.Context) error {
			var err error
			p, err = getPage(ctx, c, rel, pageQuery(start), decode)
			return err
		})
		return p, err
	}, id, fn)
}

// walkPages follows a listing from startIndex 1 by totalResults, not by
// the page size asked for, since a server may answer fewer. An error from
// get is wrapped with the page; one from fn stops the walk and is returned
// as is.
func walkPages[T any](kind string, get func(start int) (resourcePage[T], error), id func(T) string, fn func(T) error) error {
	seen := make(map[string]struct{})
	start := 1
	for page := 1; ; page++ {
		p, err := get(start)
		if err != nil {
			return fmt.Errorf("list %s: page %d: %w", kind, page, err)
		}
		fresh := 0
		for _, r := range p.Resources {
			if _, dup := seen[id(r)]; dup {
				continue
			}
			seen[id(r)] = struct{}{}
			fresh++
			if err := fn(r); err != nil {
				return err
			}
		}
		start += len(p.Resources)
		if len(p.Resources) == 0 || start > p.Total {
			return nil
		}
		if fresh == 0 {
			return fmt.Errorf("list %s: page %d at startIndex %d repeats %s already listed; the server ignores paging", kind, page, start-len(p.Resources), kind)
		}
	}
}
