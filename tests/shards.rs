//! The sharded call core, in process: every message of a call (answers, ACK, BYE from
//! either side, CANCEL) reaches the shard holding the call, from one thread or several,
//! and the call cap holds across shards.

#[path = "common/in_process.rs"]
mod in_process;

use in_process::{call, handler, start_call, Ending};
use switchboard::b2bua::shard_of_call_id;

const ENDINGS: [Ending; 3] = [Ending::CarrierBye, Ending::AgentBye, Ending::Cancel];

#[test]
fn every_message_of_every_call_reaches_the_shard_holding_it() {
    let handler = handler(4, 1000);
    let mut out = Vec::new();
    for n in 0..60 {
        let ending = ENDINGS[n % 3];
        let status = call(&handler, ending, &mut out).unwrap_or_else(|e| panic!("call {n} ({ending:?}): {e}"));
        let expected = if ending == Ending::Cancel { 487 } else { 200 };
        assert_eq!(status, expected, "call {n} ({ending:?})");
    }
    assert_eq!(handler.calls_by_shard(), vec![0; 4], "every call ended on its shard");
    let census = handler.census();
    assert_eq!(census.ringing + census.answered + census.routing, 0, "{census:?}");
}

#[test]
fn calls_from_several_threads_at_once_complete_on_their_shards() {
    let handler = handler(2, 1000);
    std::thread::scope(|scope| {
        for t in 0..4 {
            let handler = &handler;
            scope.spawn(move || {
                let mut out = Vec::new();
                for n in 0..50 {
                    let ending = ENDINGS[(n + t) % 3];
                    call(handler, ending, &mut out).unwrap_or_else(|e| panic!("thread {t} call {n}: {e}"));
                }
            });
        }
    });
    assert_eq!(handler.active_calls(), 0);
}

#[test]
fn the_call_cap_holds_across_shards() {
    let handler = handler(2, 4);
    let mut out = Vec::new();
    // Call-IDs chosen so that each shard holds two of the four calls the cap allows.
    let mut ids = (0..).map(|n| format!("cap-{n}@carrier.example"));
    let mut on_shard = |shard: usize| ids.find(|id| shard_of_call_id(id.as_bytes(), 2) == shard).unwrap();
    for shard in [0, 0, 1, 1] {
        assert_eq!(
            start_call(&handler, &on_shard(shard), &mut out),
            None,
            "admitted on shard {shard}"
        );
    }
    assert_eq!(handler.calls_by_shard(), vec![2, 2]);
    for shard in [0, 1] {
        assert_eq!(
            start_call(&handler, &on_shard(shard), &mut out),
            Some(503),
            "shard {shard} holds two calls, but the core holds four: the cap"
        );
    }
}
