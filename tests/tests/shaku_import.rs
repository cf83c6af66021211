//! A real shaku module imported into a framework app: its components become providers
//! resolvable as `Arc<dyn Interface>` and injectable into framework providers.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use framework::{Module, Provider, TestingModule};
use shaku::{Component, HasComponent, Interface, module};

trait Clock: Interface {
    fn now(&self) -> u64;
}

#[derive(Component)]
#[shaku(interface = Clock)]
struct FixedClock {
    #[shaku(default = 1_700_000_000)]
    at: u64,
}

impl Clock for FixedClock {
    fn now(&self) -> u64 {
        self.at
    }
}

trait Stamper: Interface {
    fn stamp(&self, text: &str) -> String;
}

#[derive(Component)]
#[shaku(interface = Stamper)]
struct ClockStamper {
    #[shaku(inject)]
    clock: Arc<dyn Clock>,
}

impl Stamper for ClockStamper {
    fn stamp(&self, text: &str) -> String {
        format!("{}@{}", text, self.clock.now())
    }
}

module! {
    LegacyModule {
        components = [FixedClock, ClockStamper],
        providers = []
    }
}

struct Audit {
    stamper: Arc<dyn Stamper>,
}

#[tokio::test]
async fn shaku_components_become_injectable_providers() {
    let legacy = LegacyModule::builder().build();
    let expected_clock: Arc<dyn Clock> = legacy.resolve();
    let imported = framework::shaku::import("legacy", legacy)
        .component::<dyn Clock>()
        .component::<dyn Stamper>()
        .into_module();
    let app = TestingModule::new(
        Module::new("app")
            .import(imported)
            .provider(Provider::factory(|stamper: Arc<dyn Stamper>| Audit {
                stamper,
            })),
    )
    .build()
    .await
    .unwrap();
    assert_eq!(
        app.get::<Audit>().unwrap().stamper.stamp("order"),
        "order@1700000000"
    );
    let clock = app.get::<dyn Clock>().unwrap();
    assert!(
        Arc::ptr_eq(&clock, &expected_clock),
        "the shaku singleton itself is provided"
    );
}
