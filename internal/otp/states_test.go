package otp_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// statesDoc is the state diagram of the send path.
const statesDoc = "../../docs/states.md"

// transition is one arrow of a stateDiagram: "From --> To: fnA / fnB — why".
var transition = regexp.MustCompile(`^\s*(\[\*\]|\w+)\s*-->\s*(\[\*\]|\w+)\s*:\s*(.*)$`)

// TestStatesDoc keeps docs/states.md honest: every request and challenge
// state the code declares is drawn, nothing else is, and every transition
// names functions that exist in the package (or in its Store interface).
func TestStatesDoc(t *testing.T) {
	doc, err := os.ReadFile(statesDoc)
	if err != nil {
		t.Fatal(err)
	}
	consts, funcs := declared(t)
	drawn := map[string]bool{}
	arrows := 0
	inDiagram := false
	for _, line := range strings.Split(string(doc), "\n") {
		switch strings.TrimSpace(line) {
		case "```mermaid":
			inDiagram = true
			continue
		case "```":
			inDiagram = false
			continue
		}
		m := transition.FindStringSubmatch(line)
		if !inDiagram || m == nil {
			continue
		}
		arrows++
		for _, state := range m[1:3] {
			if state == "[*]" {
				continue
			}
			drawn[state] = true
			if !slices.Contains(consts, state) {
				t.Errorf("the diagram draws %s, which is no RequestState or ChallengeState constant: %s", state, line)
			}
		}
		names, _, _ := strings.Cut(m[3], "—")
		for _, fn := range strings.Split(names, "/") {
			if fn = strings.TrimSpace(fn); !funcs[fn] {
				t.Errorf("transition %q names %q, which the package does not declare", strings.TrimSpace(line), fn)
			}
		}
	}
	if arrows < 10 {
		t.Fatalf("only %d transitions found in %s: is the diagram still there?", arrows, statesDoc)
	}
	for _, c := range consts {
		if !drawn[c] {
			t.Errorf("state %s is not drawn in %s", c, statesDoc)
		}
	}
}

// declared lists the package's RequestState and ChallengeState constants,
// and the names of its functions, methods and interface methods.
func declared(t *testing.T) (consts []string, funcs map[string]bool) {
	t.Helper()
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	funcs = map[string]bool{}
	fset := token.NewFileSet()
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(f, func(n ast.Node) bool {
			switch n := n.(type) {
			case *ast.FuncDecl:
				funcs[n.Name.Name] = true
			case *ast.InterfaceType:
				for _, m := range n.Methods.List {
					for _, id := range m.Names {
						funcs[id.Name] = true
					}
				}
			case *ast.ValueSpec:
				if id, ok := n.Type.(*ast.Ident); ok && (id.Name == "RequestState" || id.Name == "ChallengeState") {
					for _, c := range n.Names {
						consts = append(consts, c.Name)
					}
				}
			}
			return true
		})
	}
	if len(consts) < 7 {
		t.Fatalf("found the states %v only: have the types been renamed?", consts)
	}
	return consts, funcs
}
