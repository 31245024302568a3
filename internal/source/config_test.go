package source

import (
	"errors"
	"slices"
	"testing"

	"github.com/go-ldap/ldap/v3"
	"github.com/rs/zerolog"

	"github.com/syncd-dev/syncd/internal/validate"
)

// The rules that once had a second, different copy in internal/config.
func TestValidateResolvedDrifts(t *testing.T) {
	t.Run("scope in any case", func(t *testing.T) {
		cfg := openLDAPConfig().withDefaults()
		cfg.Scope = "SUB"
		if err := cfg.Validate(); err != nil {
			t.Fatalf("Validate: %v", err)
		}
		d, err := New(cfg, zerolog.Nop())
		if err != nil {
			t.Fatal(err)
		}
		if d.users.scope != ldap.ScopeWholeSubtree {
			t.Errorf("scope %d, want whole subtree", d.users.scope)
		}
	})
	t.Run("attribute alone means kind attribute", func(t *testing.T) {
		cfg := openLDAPConfig()
		cfg.Disabled = Disabled{Attribute: "employeeStatus"}
		err := cfg.withDefaults().Validate()
		var ve *validate.Error
		if !errors.As(err, &ve) {
			t.Fatalf("Validate error %v, want a *validate.Error", err)
		}
		var fields []string
		for _, p := range ve.Problems {
			fields = append(fields, p.Field)
		}
		if !slices.Equal(fields, []string{"ldap.disabled.value"}) {
			t.Errorf("problems %q, want ldap.disabled.value only", fields)
		}
	})
	t.Run("value alone means kind attribute", func(t *testing.T) {
		d := Disabled{Value: "Terminated"}.WithDefaults()
		if d.Kind != DisabledAttribute {
			t.Errorf("kind %q, want %q", d.Kind, DisabledAttribute)
		}
	})
	t.Run("default page size", func(t *testing.T) {
		if got := (Config{}).withDefaults().PageSize; got != 1000 {
			t.Errorf("default page size %d, want 1000 as documented", got)
		}
	})
}

// Every problem is reported at once, not only the first.
func TestValidateReportsAll(t *testing.T) {
	err := Config{}.Validate()
	var ve *validate.Error
	if !errors.As(err, &ve) {
		t.Fatalf("Validate error %v, want a *validate.Error", err)
	}
	want := []string{"ldap.url", "ldap.timeout", "ldap.pageSize", "ldap.referrals", "ldap.users.baseDNs",
		"ldap.users.scope", "ldap.users.filter", "ldap.attributes.id", "ldap.attributes.userName", "ldap.disabled.kind"}
	var got []string
	for _, p := range ve.Problems {
		got = append(got, p.Field)
	}
	if !slices.Equal(got, want) {
		t.Errorf("problems %q, want %q", got, want)
	}
}
