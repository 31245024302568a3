package omnitest_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/syncd-dev/syncd/internal/testsupport/omnitest"
)

// A second create with the same email, in any case, meets Omni's 409 and its
// non-SCIM error body.
func Example() {
	srv := omnitest.New(omnitest.Options{})
	hs := httptest.NewServer(srv)
	defer hs.Close()

	post := func(userName string) {
		body := `{"userName":"` + userName + `","displayName":"Ann"}`
		req, _ := http.NewRequest("POST", hs.URL+"/api/scim/v2/users", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+omnitest.DefaultToken)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			fmt.Println(err)
			return
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode == http.StatusCreated {
			b = []byte("(the user)\n")
		}
		fmt.Print(resp.StatusCode, " ", string(b))
	}
	post("ann@example.com")
	post("ANN@example.com")
	fmt.Println(srv.Stats().ByMethodStatus)
	// Output:
	// 201 (the user)
	// 409 {"error":"conflict","message":"User with this email already exists"}
	// map[POST 201:1 POST 409:1]
}
