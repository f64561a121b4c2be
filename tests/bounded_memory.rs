//! A refusal's report stays small however many rows violate: exact counts, a bounded
//! sample, and no per-row memory on the Rust side. Heap use is measured with a counting
//! global allocator (this test binary only).

use sqlite_rebuild::rusqlite::Connection;
use sqlite_rebuild::{Error, TableRebuild};
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            let live = LIVE.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
            PEAK.fetch_max(live, Ordering::Relaxed);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) };
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

const ROWS: i64 = 1_000_000;

#[test]
fn a_million_violating_rows_make_a_small_report() {
    let mut conn = Connection::open_in_memory().unwrap();
    conn.execute_batch(&format!(
        "CREATE TABLE reading (id INTEGER PRIMARY KEY, sensor TEXT, value REAL);
         WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {ROWS})
         INSERT INTO reading SELECT i, 'sensor ' || (i % 100), -i FROM n;"
    ))
    .unwrap();
    let rebuild = TableRebuild::new("reading").create_sql(
        "CREATE TABLE reading (id INTEGER PRIMARY KEY, sensor TEXT,
                               value REAL CONSTRAINT non_negative CHECK (value >= 0))",
    );

    let live_before = LIVE.load(Ordering::Relaxed);
    PEAK.store(live_before, Ordering::Relaxed);
    let err = rebuild.execute(&mut conn).unwrap_err();
    let peak = PEAK.load(Ordering::Relaxed) - live_before;

    let Error::Violations(report) = &err else {
        panic!("{err}")
    };
    assert_eq!(report.rows_checked(), ROWS as u64);
    assert_eq!(report.violation_count(), ROWS as u64);
    let c = report.constraint("non_negative").unwrap();
    assert_eq!(c.count(), ROWS as u64);
    assert_eq!(c.samples().len(), 20);
    assert_eq!(c.samples()[0].rowid(), Some(1));
    // A million rows of values would take tens of MiB; the Rust side stays in kilobytes
    // plus SQLite's statement objects (SQLite's own page cache is not on this heap).
    eprintln!("peak Rust heap during the refusal: {peak} bytes");
    assert!(
        peak < 4 << 20,
        "peak Rust heap during the refusal: {peak} bytes"
    );
    assert!(err.to_string().len() < 4096);

    // A configured sample size is honoured, and counts stay exact.
    let report = rebuild.sample_size(3).validate(&conn).unwrap();
    assert_eq!(report.constraints()[0].samples().len(), 3);
    assert_eq!(report.constraints()[0].count(), ROWS as u64);
    assert!(report.to_string().contains("... and 999997 more"));
}
