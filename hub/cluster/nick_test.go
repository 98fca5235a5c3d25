package cluster_test

import (
	"strings"
	"testing"
	"time"

	"edgews/engine/enginetest"
	"github.com/golang-jwt/jwt/v5"
)

// A token holder that took a name with /nick on one node gives it up
// when the token that names it connects on another node, as an anonymous
// holder does (TestTokenReservesAcrossNodes).
func TestTokenEvictsNickHolderAcrossNodes(t *testing.T) {
	a, b, c := startAuthCluster(t)
	tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"sub": "u-bob", "name": "bob", "nick": true, "exp": time.Now().Add(time.Hour).Unix()}).SignedString(tabsSecret)
	if err != nil {
		t.Fatal(err)
	}
	bob := dial(t, a, "?token="+tok)
	bob.expectPrefix(t, "You are connected!")
	bob.send(t, "/nick carol")
	bob.expect(t, "*** bob is now known as carol")
	enginetest.CheckFor(t, 5*time.Second, heldBy(c, "carol", "a"), "carol held by node a")
	carol := dial(t, b, "?token="+tabsToken(t, "carol"))
	carol.expectPrefix(t, "You are connected!")
	line := bob.expectPrefix(t, `error: name "carol" is reserved for its authenticated user; you are user`)
	newName := line[strings.LastIndex(line, " ")+1:]
	bob.expect(t, "*** carol is now known as "+newName)
	enginetest.CheckFor(t, 5*time.Second, heldBy(c, "carol", "b"), "carol held by node b")
}
