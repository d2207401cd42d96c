//! DESIGN.md's decision tree, branch by branch, through the real directory and the real
//! sandbox: static without an enabled config; the workflow's selection, rejection and
//! context; the fallback after every kind of failure, then the number's own agent; a
//! refusal saying why when nothing answers; hot swap; and isolation between orgs.

use std::sync::Arc;

use super::*;
use crate::directory::model::{Agent, AgentVersion, Org, RoutingConfig as OrgRouting};
use crate::directory::{Directory, Object, DEMO_AGENT_ID, DEMO_NUMBER};
use crate::store::{Artifacts, SqliteStore};
use crate::workflow::{Engine, WorkflowConfig};

const DAY: &str = "11111111-1111-4111-8111-111111111111";
const NIGHT: &str = "22222222-2222-4222-8222-222222222222";
const OTHER_ORG_AGENT: &str = "99999999-9999-4999-8999-999999999999";

struct World {
    directory: Arc<Directory>,
    router: DirectoryRouter,
    artifacts: Artifacts,
    workflows: Arc<Workflows>,
    _dir: tempfile::TempDir,
}

fn agent(id: &str, org: &str, versions: &[(u32, bool)]) -> Vec<Object> {
    let mut objects = vec![Object::Agent(Agent {
        id: id.into(),
        org_id: org.into(),
        name: id[..8].into(),
        created_at: "t".into(),
    })];
    for (n, published) in versions {
        objects.push(Object::AgentVersion(AgentVersion {
            id: format!("ver_{}_{n}", &id[..8]),
            agent_id: id.into(),
            org_id: org.into(),
            version: *n,
            published: *published,
            created_at: "t".into(),
        }));
    }
    objects
}

fn world(config: WorkflowConfig) -> World {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.db");
    let directory = Arc::new(Directory::load(Arc::new(SqliteStore::open(&path).unwrap())).unwrap());
    crate::directory::ensure_demo(&directory, "t").unwrap();
    let mut objects = agent(DAY, "org_demo", &[(1, true), (2, true), (3, false)]);
    objects.extend(agent(NIGHT, "org_demo", &[(1, true)]));
    objects.push(Object::Org(Org {
        id: "org_other".into(),
        name: "other".into(),
        livekit_sip_host: None,
    }));
    objects.extend(agent(OTHER_ORG_AGENT, "org_other", &[(1, true)]));
    directory.commit(objects, vec![]).unwrap();
    let workflows = Arc::new(Workflows::new(
        Engine::with_compiler(&config, crate::workflow::Compiler::InProcess).unwrap(),
        None,
    ));
    let router =
        DirectoryRouter::new(directory.clone(), "127.0.0.1:5090".into(), None).with_workflows(workflows.clone());
    World {
        directory,
        router,
        artifacts: Artifacts::open(&path).unwrap(),
        workflows,
        _dir: dir,
    }
}

impl World {
    /// Store the demo org's routing config (checked and compiled as the API does).
    fn configure(&self, enabled: bool, module: Option<&str>, fallback: Option<(&str, Option<u32>)>) {
        if let Some(module) = module {
            self.workflows.load(module, &self.artifacts, None).unwrap();
        }
        let config = OrgRouting {
            org_id: "org_demo".into(),
            enabled,
            workflow_definition: module.map(str::to_owned),
            fallback_agent_id: fallback.map(|f| f.0.to_owned()),
            fallback_agent_version: fallback.and_then(|f| f.1),
            tz: Some("America/New_York".into()),
            updated_at: "t".into(),
        };
        self.directory
            .commit(vec![Object::RoutingConfig(config)], vec![])
            .unwrap();
    }

    fn route(&self) -> Decision {
        self.route_to(DEMO_NUMBER)
    }

    fn route_to(&self, called: &str) -> Decision {
        self.router.route(&RouteRequest {
            called,
            caller: "+14155550100",
            caller_name: Some("Ada"),
            source: "192.0.2.10:5060".parse().unwrap(),
            call_id: b"call-1",
            invite: None,
            now: std::time::SystemTime::UNIX_EPOCH,
        })
    }
}

/// A module whose `route` selects `agent` at `version` (-1: latest), after `extra` WAT.
/// The shipped limits with a deadline a loaded machine cannot miss: for tests of what a
/// module decides, not of how long it may take (5 ms is the shipped deadline, and a test
/// binary sharing two cores with a build can stall a first run that long).
fn roomy() -> WorkflowConfig {
    WorkflowConfig {
        deadline_ms: 1_000,
        ..WorkflowConfig::default()
    }
}

fn selecting(agent: &str, version: i32, extra: &str) -> String {
    format!(
        r#"(module
  (import "switchboard" "select_agent" (func $select (param i32 i32 i32)))
  (import "switchboard" "set_initial_context" (func $context (param i32 i32)))
  (import "switchboard" "set_custom_metadata" (func $metadata (param i32 i32)))
  (memory (export "memory") 1)
  (global (export "abi_version") i32 (i32.const 1))
  (data (i32.const 0) "{agent}")
  (data (i32.const 64) "Caller wants billing")
  (data (i32.const 128) "{{\22tier\22:\22gold\22}}")
  (func (export "route") (result i32)
    {extra}
    (call $context (i32.const 64) (i32.const 20))
    (call $metadata (i32.const 128) (i32.const 15))
    (call $select (i32.const 0) (i32.const {len}) (i32.const {version}))
    (i32.const 1)))"#,
        len = agent.len()
    )
}

fn fixture(name: &str) -> String {
    std::fs::read_to_string(format!("{}/fixtures/workflows/{name}.wat", env!("CARGO_MANIFEST_DIR"))).unwrap()
}

fn agent_of(decision: Decision) -> Box<AgentTarget> {
    match decision {
        Decision::Agent(target) => target,
        Decision::Refuse(refusal) => panic!("refused: {refusal:?}"),
    }
}

#[test]
fn without_an_enabled_config_the_numbers_own_agent_answers() {
    let w = world(WorkflowConfig::default());
    assert_eq!(agent_of(w.route()).kind, RouteKind::Static);
    w.configure(false, Some(&selecting(DAY, 1, "")), None);
    let target = agent_of(w.route());
    assert_eq!(
        (target.kind, target.agent_id.as_str()),
        (RouteKind::Static, DEMO_AGENT_ID)
    );
}

#[test]
fn an_org_running_a_workflow_is_never_decided_quickly_and_one_without_is() {
    // `quick` is what the shell may decide on the SIP thread: a workflow must never run
    // there (a looping one would hold every call behind it).
    let w = world(roomy());
    let request = RouteRequest {
        called: DEMO_NUMBER,
        caller: "+14155550100",
        caller_name: None,
        source: "192.0.2.10:5060".parse().unwrap(),
        call_id: b"call-1",
        invite: None,
        now: std::time::SystemTime::UNIX_EPOCH,
    };
    let quick = |w: &World| w.router.quick(&request).map(agent_of);
    assert_eq!(quick(&w).map(|t| t.kind), Some(RouteKind::Static), "no config");
    w.configure(true, Some(&selecting(DAY, 1, "")), None);
    assert!(quick(&w).is_none(), "an enabled workflow goes to a worker");
    assert_eq!(agent_of(w.route()).kind, RouteKind::Workflow, "which runs it");
    w.configure(false, Some(&selecting(DAY, 1, "")), None);
    assert_eq!(quick(&w).map(|t| t.kind), Some(RouteKind::Static), "disabled again");
}

#[test]
fn a_selection_routes_to_that_version_with_its_context_and_metadata_as_headers() {
    let w = world(roomy());
    w.configure(true, Some(&selecting(DAY, 1, "")), Some((NIGHT, None)));
    let target = agent_of(w.route());
    assert_eq!(
        (target.kind, target.agent_id.as_str(), target.agent_version),
        (RouteKind::Workflow, DAY, 1)
    );
    let header = |name: &str| {
        target
            .headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| String::from_utf8(v.to_vec()).unwrap())
    };
    use base64::Engine as _;
    let decode = |v: String| String::from_utf8(base64::engine::general_purpose::STANDARD.decode(v).unwrap()).unwrap();
    assert_eq!(
        header(workflows::INITIAL_CONTEXT_HEADER).map(decode).as_deref(),
        Some("Caller wants billing")
    );
    assert_eq!(
        header(workflows::CUSTOM_METADATA_HEADER).map(decode).as_deref(),
        Some(r#"{"tier":"gold"}"#)
    );
}

#[test]
fn a_selection_without_a_version_takes_the_latest_published_one() {
    let w = world(roomy());
    w.configure(true, Some(&selecting(DAY, -1, "")), None);
    assert_eq!(agent_of(w.route()).agent_version, 2, "version 3 is not published");
}

#[test]
fn a_rejection_is_the_callers_final_response() {
    let w = world(roomy());
    let reject = |status: i32| {
        format!(
            r#"(module (import "switchboard" "reject" (func $reject (param i32)))
               (memory (export "memory") 1) (global (export "abi_version") i32 (i32.const 1))
               (func (export "route") (result i32) (call $reject (i32.const {status})) (i32.const 2)))"#
        )
    };
    w.configure(true, Some(&reject(486)), Some((NIGHT, None)));
    assert!(matches!(w.route(), Decision::Refuse(Refusal::Rejected { status: 486 })));
    w.configure(true, Some(&reject(0)), Some((NIGHT, None)));
    assert!(matches!(w.route(), Decision::Refuse(Refusal::Rejected { status: 603 })));
}

#[test]
fn every_failure_and_a_non_decision_take_the_fallback() {
    let config = WorkflowConfig {
        fuel: 50_000_000,
        ..WorkflowConfig::default()
    };
    let w = world(config);
    let modules = [
        ("no decision", NO_DECISION.to_owned()),
        ("trap", fixture("trap")),
        ("infinite loop", fixture("infinite-loop")),
        ("memory bomb", fixture("memory-bomb")),
        ("deep recursion", fixture("deep-recursion")),
        ("huge output", fixture("huge-output")),
        ("invalid metadata", fixture("invalid-metadata")),
        ("out-of-bounds pointer", fixture("oob-pointer")),
        (
            "unknown agent",
            selecting("00000000-0000-4000-8000-000000000000", 1, ""),
        ),
        ("unpublished version", selecting(DAY, 3, "")),
        ("another org's agent", selecting(OTHER_ORG_AGENT, 1, "")),
    ];
    for (name, module) in modules {
        w.configure(true, Some(&module), Some((NIGHT, Some(1))));
        let target = agent_of(w.route());
        assert_eq!(
            (target.kind, target.agent_id.as_str(), target.headers.len()),
            (RouteKind::Fallback, NIGHT, 0),
            "{name}"
        );
    }
}

/// The demo number without an inbound agent of its own.
const NUMBER_WITHOUT_AGENT: &str = "+15557654321";

const NO_DECISION: &str = r#"(module (memory (export "memory") 1) (global (export "abi_version") i32 (i32.const 1))
    (func (export "route") (result i32) (i32.const 0)))"#;

#[test]
fn without_a_fallback_agent_the_numbers_own_agent_answers_before_any_480() {
    let w = world(WorkflowConfig::default());
    for (name, module) in [
        ("no decision", NO_DECISION.to_owned()),
        ("trap", fixture("trap")),
        ("infinite loop", fixture("infinite-loop")),
        ("unknown agent", selecting(OTHER_ORG_AGENT, 1, "")),
    ] {
        w.configure(true, Some(&module), None);
        let target = agent_of(w.route());
        assert_eq!(
            (target.kind, target.agent_id.as_str()),
            (RouteKind::Static, DEMO_AGENT_ID),
            "{name}"
        );
    }
}

#[test]
fn the_configs_fallback_agent_comes_before_the_numbers_own() {
    let w = world(WorkflowConfig::default());
    w.configure(true, Some(&fixture("trap")), Some((NIGHT, None)));
    assert_eq!(agent_of(w.route()).agent_id, NIGHT);
    w.configure(true, None, Some((NIGHT, None)));
    let target = agent_of(w.route());
    assert_eq!((target.kind, target.agent_id.as_str()), (RouteKind::Fallback, NIGHT));
}

#[test]
fn an_enabled_config_without_a_workflow_leaves_numbers_to_their_own_agents() {
    let w = world(WorkflowConfig::default());
    w.configure(true, None, None);
    let target = agent_of(w.route());
    assert_eq!(
        (target.kind, target.agent_id.as_str()),
        (RouteKind::Static, DEMO_AGENT_ID)
    );
    assert!(matches!(
        w.route_to(NUMBER_WITHOUT_AGENT),
        Decision::Refuse(Refusal::NoAgent)
    ));
}

#[test]
fn with_nothing_left_to_answer_the_480_says_how_the_workflow_came_to_nothing() {
    let w = world(WorkflowConfig::default());
    for (module, miss, reason) in [
        (
            NO_DECISION.to_owned(),
            Miss::NoDecision,
            "routing workflow made no decision and no fallback is set",
        ),
        (
            fixture("trap"),
            Miss::Failed,
            "routing workflow failed and no fallback is set",
        ),
        (
            selecting(DAY, 3, ""),
            Miss::UnknownAgent,
            "routing workflow chose an unknown or unpublished agent and no fallback is set",
        ),
    ] {
        w.configure(true, Some(&module), None);
        match w.route_to(NUMBER_WITHOUT_AGENT) {
            Decision::Refuse(refusal) => {
                assert_eq!(refusal, Refusal::NoFallback { miss });
                assert_eq!(crate::status::routing(&refusal), (480, reason));
            }
            other => panic!("{miss:?}: {other:?}"),
        }
    }
}

#[test]
fn an_anonymous_callers_number_is_the_documented_word() {
    use workflows::caller_number;
    assert_eq!(caller_number("+14155550100"), "+14155550100");
    for withheld in ["anonymous", "", "Anonymous", "alice", "+1", "+1415555010x"] {
        assert_eq!(caller_number(withheld), ANONYMOUS_CALLER, "{withheld:?}");
    }
}

#[test]
fn a_new_module_takes_effect_for_the_next_call() {
    let w = world(roomy());
    w.configure(true, Some(&selecting(DAY, 1, "")), None);
    assert_eq!(agent_of(w.route()).agent_id, DAY);
    w.configure(true, Some(&selecting(NIGHT, 1, "")), None);
    assert_eq!(agent_of(w.route()).agent_id, NIGHT);
}

#[test]
fn the_workflow_sees_the_calls_facts_and_the_orgs_local_time() {
    let dir = tempfile::tempdir().unwrap();
    let w = world(roomy());
    // Monday 2026-11-23 15:30 UTC is 10:30 in New York: the business-hours example picks
    // the day agent; 03:00 UTC (Sunday 22:00 in New York) the night agent.
    let module = std::fs::read_to_string(format!(
        "{}/routing-workflows/business-hours.wat",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    for (at, expected) in [("2026-11-23T15:30:00Z", DAY), ("2026-11-23T03:00:00Z", NIGHT)] {
        // The wall clock comes with the call (routing reads no clock).
        let at_call: std::time::SystemTime = at.parse::<jiff::Timestamp>().unwrap().into();
        let workflows = Arc::new(Workflows::new(w.workflows.engine().clone(), None));
        let router =
            DirectoryRouter::new(w.directory.clone(), "127.0.0.1:5090".into(), None).with_workflows(workflows.clone());
        workflows
            .load(&module, &Artifacts::open(&dir.path().join("a.db")).unwrap(), None)
            .unwrap();
        w.configure(true, Some(&module), None);
        let target = agent_of(router.route(&RouteRequest {
            called: DEMO_NUMBER,
            caller: "+14155550100",
            caller_name: None,
            source: "192.0.2.10:5060".parse().unwrap(),
            call_id: b"c",
            invite: None,
            now: at_call,
        }));
        assert_eq!(target.agent_id, expected, "at {at}");
    }
}
