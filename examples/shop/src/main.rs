//! `shop`: the online shop's back office as Inngest functions. See the crate docs of
//! `shop` (src/lib.rs) and docs/inngest.md.
//!
//! ```sh
//! cargo run -p shop                          # the embedded executor: no Inngest server needed
//! INNGEST_DEV=1 cargo run -p shop            # the Inngest dev server runs the functions instead
//! APP_ENV=production cargo run -p shop       # fails: inngest.signing_key and inngest.event_key are required
//! ```

use framework::App;

#[tokio::main]
async fn main() -> framework::Result<()> {
    App::new(shop::app_module())
        .config_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/config"))
        .run()
        .await
}
