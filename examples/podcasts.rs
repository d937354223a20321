//! The README's Rust example ("From Rust"), compiled for wasm32 by
//! `scripts/test.sh` (`cargo build --target wasm32-unknown-unknown --examples`);
//! `tests/package/package.test.mjs` checks that the README shows this code.
//! Natively it is an empty program (the page API exists on wasm32 only).

#[cfg(target_arch = "wasm32")]
mod readme {
    // --- the README's example, as shown there ---
    use bgsession::{FileManager, NsError, UrlSession, UrlSessionConfiguration, UrlSessionDelegate, UrlSessionTask};

    struct Podcasts;

    impl UrlSessionDelegate for Podcasts {
        async fn did_finish_downloading_to(&self, _s: &UrlSession, task: &UrlSessionTask, location: &str) {
            let dest = format!("file:///Documents/{}", task.task_description());
            FileManager::default_manager().move_item(location, &dest).await.expect("moved");
        }
        async fn did_complete_with_error(&self, _s: &UrlSession, task: &UrlSessionTask, error: Option<&NsError>) {
            web_sys::console::log_1(&format!("task {}: {:?}", task.task_identifier(), error).into());
        }
    }

    async fn start() -> Result<(), bgsession::Error> {
        let config = UrlSessionConfiguration::background("com.example.podcasts")?;
        let session = UrlSession::with_delegate(&config, Podcasts)?;
        let task = session.download_task("https://example.test/ep1.mp3")?;
        task.set_task_description("ep1.mp3".into());
        task.resume().await?;
        Ok(())
    }
    // --- end of the README's example ---

    pub(super) fn run() {
        wasm_bindgen_futures::spawn_local(async {
            if let Err(e) = start().await {
                web_sys::console::error_1(&format!("{e:?}").into());
            }
        });
    }
}

fn main() {
    #[cfg(target_arch = "wasm32")]
    readme::run();
}
