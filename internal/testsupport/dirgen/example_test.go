package dirgen_test

import (
	"fmt"

	"github.com/syncd-dev/syncd/internal/testsupport/dirgen"
)

func ExampleDirectory_LDIF() {
	d := dirgen.Generate(dirgen.Options{Seed: 1, Users: 1, Shape: dirgen.ActiveDirectory, Groups: 1})
	fmt.Print(string(d.LDIF()))
	fmt.Println()
	fmt.Print(string(d.GroupsLDIF()))
	fmt.Println(d.Users[0].ID, d.ExpectedEmail(d.Users[0]))
	// Output:
	// dn: ou=people,dc=corp,dc=example,dc=com
	// objectClass: organizationalUnit
	// ou: people
	//
	// dn: ou=groups,dc=corp,dc=example,dc=com
	// objectClass: organizationalUnit
	// ou: groups
	//
	// dn: cn=Walter Reed,ou=people,dc=corp,dc=example,dc=com
	// objectClass: top
	// objectClass: person
	// objectClass: organizationalPerson
	// objectClass: user
	// cn: Walter Reed
	// objectGUID:: OScruBQNF+PnOntWRpYJtA==
	// userAccountControl: 512
	// sAMAccountName: walter.reed
	// userPrincipalName: walter.reed@corp.example.com
	// department: Legal
	// sn: Reed
	// givenName: Walter
	// displayName: Walter Reed
	// mail: walter.reed@corp.example.com
	//
	// dn: cn=engineering-0,ou=groups,dc=corp,dc=example,dc=com
	// objectClass: groupOfNames
	// cn: engineering-0
	// member: cn=Walter Reed,ou=people,dc=corp,dc=example,dc=com
	// b82b2739-0d14-e317-e73a-7b56469609b4 walter.reed@corp.example.com
}
