package slapdtest_test

import (
	"testing"

	"github.com/go-ldap/ldap/v3"

	"github.com/syncd-dev/syncd/internal/testsupport/slapdtest"
)

// The schema carries what an Active Directory USN read needs: uSNChanged
// with an ordering rule, tombstones marked isDeleted in a container that is
// itself deleted, and entries standing in for the root DSE and the NTDS
// Settings object. A missing ORDERING rule would make (uSNChanged>=N) match
// nothing, silently.
func TestADUSNSchema(t *testing.T) {
	ldif := `dn: cn=RootDSE,` + suffix + `
objectClass: syncdTestRootDSE
cn: RootDSE
dNSHostName: dc1.corp.example.com
serverName: cn=DC1,` + suffix + `
dsServiceName: cn=NTDS Settings,cn=DC1,` + suffix + `
highestCommittedUSN: 200
defaultNamingContext: ` + suffix + `

dn: cn=DC1,` + suffix + `
objectClass: container
cn: DC1

dn: cn=NTDS Settings,cn=DC1,` + suffix + `
objectClass: nTDSDSA
cn: NTDS Settings
invocationId:: AAECAwQFBgcICQoLDA0ODw==

dn: cn=Deleted Objects,` + suffix + `
objectClass: container
cn: Deleted Objects
isDeleted: TRUE

dn: cn=gone,cn=Deleted Objects,` + suffix + `
objectClass: user
cn: gone
sn: gone
isDeleted: TRUE
uSNCreated: 12
uSNChanged: 150
lastKnownParent: ou=people,` + suffix + `

dn: cn=old,cn=Deleted Objects,` + suffix + `
objectClass: user
cn: old
sn: old
isDeleted: TRUE
uSNChanged: 99

dn: cn=team,` + suffix + `
objectClass: group
cn: team
uSNChanged: 180
`
	s := slapdtest.New(t, slapdtest.Options{LDIF: []byte(ldif)})
	conn, err := s.Conn(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	count := func(base string, scope int, filter string) int {
		t.Helper()
		res, err := conn.Search(ldap.NewSearchRequest(base, scope, ldap.NeverDerefAliases, 0, 0, false, filter, []string{"1.1"}, nil))
		if err != nil {
			t.Fatalf("search %s %s: %v", base, filter, err)
		}
		return len(res.Entries)
	}
	deleted := "cn=Deleted Objects," + suffix
	if n := count(deleted, ldap.ScopeSingleLevel, "(&(isDeleted=TRUE)(uSNChanged>=100))"); n != 1 {
		t.Errorf("tombstones above USN 99: %d, want 1", n)
	}
	if n := count(suffix, ldap.ScopeWholeSubtree, "(uSNChanged>=151)"); n != 1 {
		t.Errorf("entries above USN 150: %d, want the group only", n)
	}
	if n := count("cn=RootDSE,"+suffix, ldap.ScopeBaseObject, "(highestCommittedUSN>=200)"); n != 1 {
		t.Errorf("root DSE stand-in at USN 200: %d entries, want 1", n)
	}
	res, err := conn.Search(ldap.NewSearchRequest("cn=NTDS Settings,cn=DC1,"+suffix, ldap.ScopeBaseObject, ldap.NeverDerefAliases, 0, 0, false, "(objectClass=*)", []string{"invocationId"}, nil))
	if err != nil {
		t.Fatal(err)
	}
	if got := res.Entries[0].GetRawAttributeValue("invocationId"); len(got) != 16 {
		t.Errorf("invocationId is %d bytes, want 16", len(got))
	}
}
