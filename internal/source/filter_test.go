package source

import (
	"testing"

	"github.com/go-ldap/ldap/v3"
)

func TestFilter(t *testing.T) {
	tests := []struct {
		name     string
		flavor   string
		filter   string
		memberOf []string
		want     string
	}{
		{name: "filter alone", filter: "(objectClass=inetOrgPerson)", want: "(objectClass=inetOrgPerson)"},
		{name: "no filter", want: "(objectClass=*)"},
		{name: "filter without parentheses", filter: "objectClass=person", want: "(objectClass=person)"},
		{
			name: "one group", filter: "(objectClass=person)",
			memberOf: []string{"cn=staff,ou=groups,dc=example,dc=org"},
			want:     "(&(objectClass=person)(memberOf=cn=staff,ou=groups,dc=example,dc=org))",
		},
		{
			name: "two groups", filter: "(objectClass=person)",
			memberOf: []string{"cn=a,dc=x", "cn=b,dc=x"},
			want:     "(&(objectClass=person)(|(memberOf=cn=a,dc=x)(memberOf=cn=b,dc=x)))",
		},
		{
			name: "escaped group", filter: "(objectClass=person)",
			memberOf: []string{`cn=R&D (EMEA)*\, all,dc=x`},
			want:     `(&(objectClass=person)(memberOf=cn=R&D \28EMEA\29\2a\5c, all,dc=x))`,
		},
		{
			name: "non-ascii group", memberOf: []string{"cn=Ventes Québec,dc=x"},
			want: `(&(objectClass=*)(memberOf=cn=Ventes Qu\c3\a9bec,dc=x))`,
		},
		{
			name: "active directory nested groups", flavor: "activedirectory", filter: "(&(objectCategory=person)(objectClass=user))",
			memberOf: []string{"CN=Omni Users,OU=Groups,DC=corp,DC=example", "CN=Contractors (ext),DC=corp"},
			want:     `(&(&(objectCategory=person)(objectClass=user))(|(memberOf:1.2.840.113556.1.4.1941:=CN=Omni Users,OU=Groups,DC=corp,DC=example)(memberOf:1.2.840.113556.1.4.1941:=CN=Contractors \28ext\29,DC=corp)))`,
		},
		{name: "blank groups ignored", filter: "(uid=*)", memberOf: []string{"", " "}, want: "(uid=*)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := Config{ActiveDirectory: tt.flavor == "activedirectory", Filter: tt.filter, MemberOf: tt.memberOf}
			got := Filter(cfg)
			if got != tt.want {
				t.Errorf("Filter =\n %s\nwant\n %s", got, tt.want)
			}
			if _, err := ldap.CompileFilter(got); err != nil {
				t.Errorf("filter does not compile: %v", err)
			}
		})
	}
}
