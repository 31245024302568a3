package slapdtest

import (
	"reflect"
	"strings"
	"testing"

	"github.com/go-ldap/ldap/v3"
)

func TestParseLDIF(t *testing.T) {
	tests := []struct {
		name    string
		ldif    string
		want    []Entry
		wantErr string
	}{
		{
			name: "plain records",
			ldif: "dn: cn=a,dc=x\ncn: a\nmail: a@x\n\n\ndn: cn=b,dc=x\ncn: b\n",
			want: []Entry{
				{DN: "cn=a,dc=x", Attributes: []ldap.Attribute{{Type: "cn", Vals: []string{"a"}}, {Type: "mail", Vals: []string{"a@x"}}}},
				{DN: "cn=b,dc=x", Attributes: []ldap.Attribute{{Type: "cn", Vals: []string{"b"}}}},
			},
		},
		{
			name: "version, comments and folding",
			ldif: "version: 1\n\n# note\n  folded note\ndn: cn=a,\n dc=x\ndescription: one\n  two\n",
			want: []Entry{{DN: "cn=a,dc=x", Attributes: []ldap.Attribute{{Type: "description", Vals: []string{"one two"}}}}},
		},
		{
			name: "base64 values and dn",
			ldif: "dn:: Y249Wm/DqyxkYz14\nobjectGUID:: AAEC/w==\nempty:\n",
			want: []Entry{{DN: "cn=Zoë,dc=x", Attributes: []ldap.Attribute{{Type: "objectGUID", Vals: []string{"\x00\x01\x02\xff"}}, {Type: "empty", Vals: []string{""}}}}},
		},
		{
			name: "repeated attribute in any case collects values",
			ldif: "dn: cn=a,dc=x\nobjectClass: top\nobjectclass: person\r\n",
			want: []Entry{{DN: "cn=a,dc=x", Attributes: []ldap.Attribute{{Type: "objectClass", Vals: []string{"top", "person"}}}}},
		},
		{
			name: "changetype add",
			ldif: "dn: cn=a,dc=x\nchangetype: add\ncn: a\n",
			want: []Entry{{DN: "cn=a,dc=x", Attributes: []ldap.Attribute{{Type: "cn", Vals: []string{"a"}}}}},
		},
		{name: "changetype modify", ldif: "dn: cn=a,dc=x\nchangetype: modify\nreplace: cn\n", wantErr: "changetype"},
		{name: "url value", ldif: "dn: cn=a,dc=x\njpegPhoto:< file:///tmp/a.jpg\n", wantErr: "url value"},
		{name: "bad base64", ldif: "dn: cn=a,dc=x\ncn:: !!!\n", wantErr: "base64"},
		{name: "record without dn", ldif: "cn: a\n", wantErr: "want dn"},
		{name: "leading continuation", ldif: " cn: a\n", wantErr: "continuation"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseLDIF([]byte(tt.ldif))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ParseLDIF error = %v, want one mentioning %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("ParseLDIF =\n%#v\nwant\n%#v", got, tt.want)
			}
		})
	}
}
