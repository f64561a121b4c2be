// The v3_plans story on dqlite (Raft-replicated SQLite): foreign keys are on and
// `PRAGMA foreign_keys = OFF` does nothing, writable_schema is allowed. The fixture
// (cli/examples/engine_fixture.rs, `dqlite`) holds the setup, the rendered downgrade (the
// default script, which copies the children, and the repointing one), the same with no
// rules (refused), and the databases SQLite makes of them. Each script is sent whole
// through the leader of a 3-node cluster; afterwards leadership moves to every node in
// turn, and each must hold exactly the rebuilt database (or, refused, the old one).
//
//	go run . FIXTURE.json 127.0.0.1:9001 127.0.0.1:9002 127.0.0.1:9003
//
// Built with Debian's go-dqlite (GOPATH=/usr/share/gocode, GO111MODULE=off).
package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"os"
	"reflect"
	"strings"
	"time"

	"github.com/canonical/go-dqlite/client"
	"github.com/canonical/go-dqlite/driver"
)

type Scripts struct {
	Script  string          `json:"script"`
	Refused []string        `json:"refused"`
	After   json.RawMessage `json:"after"`
}

type Fixture struct {
	Plans   int64               `json:"plans"`
	Setup   []string            `json:"setup"`
	Before  json.RawMessage     `json:"before"`
	Scripts map[string]Scripts  `json:"scripts"`
}

var ctx = context.Background()

func fail(format string, args ...interface{}) {
	fmt.Fprintf(os.Stderr, "dqlite: "+format+"\n", args...)
	os.Exit(1)
}

func must(err error, what string) {
	if err != nil {
		fail("%s: %v", what, err)
	}
}

// dump: the schema and every row of every table, rowid first, as engine_fixture dumps them.
func dump(db *sql.DB) interface{} {
	query := func(q string) [][]interface{} {
		rows, err := db.Query(q)
		must(err, q)
		defer rows.Close()
		cols, _ := rows.Columns()
		var out [][]interface{}
		for rows.Next() {
			vals := make([]interface{}, len(cols))
			ptrs := make([]interface{}, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			must(rows.Scan(ptrs...), "scan")
			for i, v := range vals {
				if b, ok := v.([]byte); ok {
					vals[i] = string(b)
				}
				if t, ok := v.(time.Time); ok {
					vals[i] = t.Format("2006-01-02 15:04:05")
				}
			}
			out = append(out, vals)
		}
		must(rows.Err(), q)
		return out
	}
	schema := query("SELECT type, name, tbl_name, sql FROM sqlite_schema WHERE name NOT LIKE '\\_cf\\_%' ESCAPE '\\' ORDER BY type, name")
	rows := map[string]interface{}{}
	for _, s := range schema {
		if s[0] == "table" {
			name := s[1].(string)
			r := query(fmt.Sprintf("SELECT rowid, * FROM \"%s\" ORDER BY rowid", name))
			if r == nil {
				r = [][]interface{}{}
			}
			rows[name] = r
		}
	}
	// Through JSON, so numbers compare as the fixture's do.
	var out interface{}
	b, _ := json.Marshal(map[string]interface{}{"schema": schema, "rows": rows})
	must(json.Unmarshal(b, &out), "json")
	return out
}

func decode(raw json.RawMessage) interface{} {
	var out interface{}
	must(json.Unmarshal(raw, &out), "fixture")
	return out
}

func scalar(db *sql.DB, q string) int64 {
	var n int64
	must(db.QueryRow(q).Scan(&n), q)
	return n
}

// onEveryNode moves leadership to each node in turn and checks the database there.
func onEveryNode(addresses []string, open func() *sql.DB, check func(db *sql.DB, node string)) {
	for _, address := range addresses {
		leader, err := client.FindLeader(ctx, store(addresses))
		must(err, "find leader")
		nodes, err := leader.Cluster(ctx)
		must(err, "cluster")
		current, err := leader.Leader(ctx)
		must(err, "leader")
		for _, n := range nodes {
			if n.Address == address && current.Address != address {
				must(leader.Transfer(ctx, n.ID), "transfer leadership to "+address)
			}
		}
		leader.Close()
		moved := false
		for i := 0; i < 100 && !moved; i++ {
			l, err := client.FindLeader(ctx, store(addresses))
			if err == nil {
				info, err := l.Leader(ctx)
				l.Close()
				moved = err == nil && info.Address == address
			}
			if !moved {
				time.Sleep(100 * time.Millisecond)
			}
		}
		if !moved {
			fail("leadership did not move to %s", address)
		}
		db := open()
		check(db, address)
		db.Close()
	}
}

func store(addresses []string) client.NodeStore {
	s := client.NewInmemNodeStore()
	var infos []client.NodeInfo
	for _, a := range addresses {
		infos = append(infos, client.NodeInfo{Address: a})
	}
	must(s.Set(ctx, infos), "node store")
	return s
}

func main() {
	if len(os.Args) < 3 {
		fail("usage: FIXTURE.json ADDRESS...")
	}
	raw, err := os.ReadFile(os.Args[1])
	must(err, "read fixture")
	var f Fixture
	must(json.Unmarshal(raw, &f), "parse fixture")
	addresses := os.Args[2:]
	drv, err := driver.New(store(addresses))
	must(err, "driver")
	sql.Register("dqlite-story", drv)
	before := decode(f.Before)
	scenarios := 0
	for _, name := range []string{"copy", "repoint"} {
		scripts, ok := f.Scripts[name]
		if !ok {
			fail("the fixture has no %s script", name)
		}
		for _, refused := range []bool{false, true} {
			dbname := fmt.Sprintf("story-%s-%v-%d", name, refused, time.Now().UnixNano())
			open := func() *sql.DB {
				db, err := sql.Open("dqlite-story", dbname)
				must(err, "open")
				db.SetMaxOpenConns(1)
				return db
			}
			db := open()
			for _, st := range f.Setup {
				_, err := db.Exec(st)
				must(err, "setup: "+st)
			}
			if !reflect.DeepEqual(dump(db), before) {
				fail("%s: the setup differs on dqlite", name)
			}
			// dqlite starts its connections with enforcement on. The script must not need
			// it off, so it runs with it on.
			if scalar(db, "PRAGMA foreign_keys") != 1 {
				fail("foreign keys are not on by default on dqlite")
			}
			if refused {
				_, err = db.Exec(strings.Join(scripts.Refused, ";\n") + ";")
				if err == nil || !strings.Contains(err.Error(), "ck_v3_plans_phase") {
					fail("%s: the script without rules was not refused by its guard: %v", name, err)
				}
			} else {
				_, err = db.Exec(scripts.Script)
				must(err, name+" script")
			}
			db.Close()
			want := decode(scripts.After)
			if refused {
				want = before
			}
			onEveryNode(addresses, open, func(db *sql.DB, node string) {
				if !reflect.DeepEqual(dump(db), want) {
					fail("%s (refused: %v): node %s does not hold the expected database", name, refused, node)
				}
				if !refused {
					for _, child := range []string{"plan_projects", "plan_arguments", "plan_invariants"} {
						if scalar(db, "SELECT count(*) FROM "+child) != f.Plans {
							fail("%s: %s lost rows on %s", name, child, node)
						}
					}
					if scalar(db, "SELECT count(*) FROM active_plans") != f.Plans {
						fail("%s: the view does not read on %s", name, node)
					}
				}
			})
			scenarios++
		}
	}
	fmt.Printf("dqlite: %d scenarios passed on %d nodes, %d plans\n", scenarios, len(addresses), f.Plans)
}
