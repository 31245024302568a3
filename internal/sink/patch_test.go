package sink

import "testing"

// The PATCH body names exactly the changed fields, with the paths Omni
// documents, and nothing else.
func TestEncodePatch(t *testing.T) {
	body, err := encodePatch([]Change{
		{Field: "userName", Value: "a@example.com"},
		{Field: "displayName", Value: "A"},
		{Attribute: "department", Value: "7"},
		{Attribute: "site", Remove: true},
	})
	if err != nil {
		t.Fatal(err)
	}
	want := `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[` +
		`{"op":"replace","path":"userName","value":"a@example.com"},` +
		`{"op":"replace","path":"displayName","value":"A"},` +
		`{"op":"replace","path":"urn:omni:params:1.0:UserAttribute:department","value":"7"},` +
		`{"op":"remove","path":"urn:omni:params:1.0:UserAttribute:site"}]}`
	if string(body) != want {
		t.Errorf("body\n got %s\nwant %s", body, want)
	}
	for _, bad := range [][]Change{nil, {{Field: "active", Value: "false"}}, {{Value: "x"}}} {
		if _, err := encodePatch(bad); err == nil {
			t.Errorf("encodePatch(%+v) accepted", bad)
		}
	}
}
