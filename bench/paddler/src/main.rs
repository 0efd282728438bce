//! Paddler's balancer and agent from the crates.io libraries `paddler_balancer` and
//! `paddler_agent`, started the way Paddler's own command line (`paddler_cli`, which is not on
//! crates.io) starts them: each service of the library registered with a `trzcina` service
//! manager and run inside an actix system until SIGINT or SIGTERM.
//!
//!   paddler balancer --management-addr HOST:PORT --compat-openai-addr HOST:PORT
//!                    [--inference-addr HOST:PORT] [--desired-state FILE.json]
//!                    [--max-buffered-requests N] [--buffered-request-timeout-ms MS]
//!                    [--inference-item-timeout-ms MS]
//!   paddler agent --management-addr HOST:PORT --slots N [--name NAME]
//!
//! `--desired-state` is Paddler's `BalancerDesiredState` as JSON (the body of its
//! `PUT /api/v1/balancer_desired_state`): the model every agent loads (`{"LocalToAgent": PATH}`
//! for a file on the agent's machine) and the inference parameters. The balancer holds it in
//! memory, as Paddler's `--state-database memory://` does.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use anyhow::Result;
use anyhow::bail;
use paddler_agent::agent_applicable_state_holder::AgentApplicableStateHolder;
use paddler_agent::llamacpp_arbiter_service::LlamaCppArbiterService;
use paddler_agent::management_socket_client_service::ManagementSocketClientService;
use paddler_agent::model_metadata_holder::ModelMetadataHolder;
use paddler_agent::reconciliation_service::ReconciliationService as AgentReconciliationService;
use paddler_agent::slot_aggregated_status_manager::SlotAggregatedStatusManager;
use paddler_balancer::agent_controller_pool::AgentControllerPool;
use paddler_balancer::balancer_applicable_state_holder::BalancerApplicableStateHolder;
use paddler_balancer::buffered_request_manager::BufferedRequestManager;
use paddler_balancer::compatibility::openai_service::OpenAIService;
use paddler_balancer::compatibility::openai_service::configuration::Configuration as OpenAIConfiguration;
use paddler_balancer::inference_service::InferenceService;
use paddler_balancer::inference_service::configuration::Configuration as InferenceConfiguration;
use paddler_balancer::management_service::ManagementService;
use paddler_balancer::management_service::configuration::Configuration as ManagementConfiguration;
use paddler_balancer::reconciliation_service::ReconciliationService as BalancerReconciliationService;
use paddler_balancer::state_database::StateDatabase;
use paddler_balancer::state_database::memory::Memory;
use paddler_messaging::balancer_desired_state::BalancerDesiredState;
use tokio::sync::broadcast;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use trzcina::ServiceManager;
use trzcina::ServiceShutdownOptions;

/// The command line's options as `--name value` pairs; every option takes a value.
struct Options(Vec<(String, String)>);

impl Options {
    fn parse(args: &[String]) -> Result<Self> {
        let mut pairs = Vec::new();
        let mut rest = args.iter();
        while let Some(name) = rest.next() {
            let Some(key) = name.strip_prefix("--") else {
                bail!("unexpected argument '{name}' (options are --name value)");
            };
            let value = rest.next().with_context(|| format!("--{key} needs a value"))?;
            pairs.push((key.to_owned(), value.clone()));
        }
        Ok(Self(pairs))
    }

    fn get(&self, key: &str) -> Option<&str> {
        self.0.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }

    fn addr(&self, key: &str, default: Option<&str>) -> Result<SocketAddr> {
        let text = match self.get(key) {
            Some(value) => value,
            None => default.with_context(|| format!("--{key} is required"))?,
        };
        text.parse()
            .with_context(|| format!("--{key} '{text}' is not an IP:PORT address"))
    }

    fn number<T: std::str::FromStr>(&self, key: &str, default: T) -> Result<T> {
        match self.get(key) {
            Some(text) => text
                .parse()
                .map_err(|_| anyhow::anyhow!("--{key} '{text}' is not a number")),
            None => Ok(default),
        }
    }
}

fn balancer(options: &Options, manager: &mut ServiceManager) -> Result<()> {
    let desired_state = match options.get("desired-state") {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("--desired-state: cannot read {path}"))?;
            serde_json::from_str::<BalancerDesiredState>(&text)
                .with_context(|| format!("--desired-state {path}: not a BalancerDesiredState"))?
        }
        None => BalancerDesiredState::default(),
    };
    let inference_configuration = InferenceConfiguration {
        addr: options.addr("inference-addr", Some("127.0.0.1:8061"))?,
        cors_allowed_hosts: vec![],
        inference_item_timeout: Duration::from_millis(
            options.number("inference-item-timeout-ms", 30_000)?,
        ),
    };
    let shutdown_options = ServiceShutdownOptions::default();
    let (desired_state_tx, desired_state_rx) = broadcast::channel(100);
    let agent_controller_pool = Arc::new(AgentControllerPool::default());
    let applicable_state_holder = Arc::new(BalancerApplicableStateHolder::default());
    let buffered_request_manager = Arc::new(BufferedRequestManager::new(
        agent_controller_pool.clone(),
        Duration::from_millis(options.number("buffered-request-timeout-ms", 10_000)?),
        options.number("max-buffered-requests", 30)?,
    ));
    let state_database: Arc<dyn StateDatabase> =
        Arc::new(Memory::new(desired_state_tx, desired_state.clone()));

    manager.register_service(InferenceService {
        agent_controller_pool: agent_controller_pool.clone(),
        balancer_applicable_state_holder: applicable_state_holder.clone(),
        buffered_request_manager: buffered_request_manager.clone(),
        configuration: inference_configuration.clone(),
        shutdown_options: shutdown_options.clone(),
    });
    manager.register_service(ManagementService {
        agent_controller_pool: agent_controller_pool.clone(),
        balancer_applicable_state_holder: applicable_state_holder.clone(),
        buffered_request_manager: buffered_request_manager.clone(),
        chat_template_override_sender_collection: Arc::default(),
        configuration: ManagementConfiguration {
            addr: options.addr("management-addr", None)?,
            cors_allowed_hosts: vec![],
        },
        embedding_sender_collection: Arc::default(),
        generate_tokens_sender_collection: Arc::default(),
        model_metadata_sender_collection: Arc::default(),
        shutdown_options: shutdown_options.clone(),
        state_database,
        statsd_prefix: "paddler_".to_owned(),
    });
    manager.register_service(BalancerReconciliationService {
        agent_controller_pool,
        balancer_applicable_state_holder: applicable_state_holder,
        balancer_desired_state: desired_state,
        balancer_desired_state_rx: desired_state_rx,
        is_converted_to_applicable_state: false,
    });
    if options.get("compat-openai-addr").is_some() {
        manager.register_service(OpenAIService {
            buffered_request_manager,
            inference_service_configuration: inference_configuration,
            openai_service_configuration: OpenAIConfiguration {
                addr: options.addr("compat-openai-addr", None)?,
            },
            shutdown_options,
        });
    }
    Ok(())
}

fn agent(options: &Options, manager: &mut ServiceManager) -> Result<()> {
    let slots: i32 = options.number("slots", 0)?;
    if slots < 1 {
        bail!("--slots N (at least 1) is required");
    }
    let name = options.get("name").map(str::to_owned);
    let (desired_state_tx, desired_state_rx) = mpsc::unbounded_channel();
    let (history_tx, history_rx) = mpsc::unbounded_channel();
    let (raw_prompt_tx, raw_prompt_rx) = mpsc::unbounded_channel();
    let (embedding_tx, embedding_rx) = mpsc::unbounded_channel();
    let applicable_state_holder = Arc::new(AgentApplicableStateHolder::default());
    let model_metadata_holder = Arc::new(ModelMetadataHolder::default());
    let status_manager = Arc::new(SlotAggregatedStatusManager::new(slots));
    let status = status_manager.slot_aggregated_status.clone();
    // Each connection names itself in the socket's path; pid and time keep two agents apart.
    let agent_id = format!(
        "{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)?
            .as_nanos()
    );

    manager.register_service(LlamaCppArbiterService {
        agent_applicable_state: None,
        agent_applicable_state_holder: applicable_state_holder.clone(),
        agent_name: name.clone(),
        continue_from_conversation_history_request_rx: history_rx,
        continue_from_raw_prompt_request_rx: raw_prompt_rx,
        desired_slots_total: slots,
        generate_embedding_batch_request_rx: embedding_rx,
        continuous_batch_arbiter_handle: None,
        model_metadata_holder: model_metadata_holder.clone(),
        slot_aggregated_status_manager: status_manager,
    });
    manager.register_service(ManagementSocketClientService {
        agent_applicable_state_holder: applicable_state_holder.clone(),
        agent_desired_state_tx: desired_state_tx,
        continue_from_conversation_history_request_tx: history_tx,
        continue_from_raw_prompt_request_tx: raw_prompt_tx,
        generate_embedding_batch_request_tx: embedding_tx,
        model_metadata_holder,
        name,
        receive_stream_stopper_collection: Arc::default(),
        slot_aggregated_status: status.clone(),
        socket_url: format!(
            "ws://{}/api/v1/agent_socket/{agent_id}",
            options.addr("management-addr", None)?
        ),
    });
    manager.register_service(AgentReconciliationService {
        agent_applicable_state_holder: applicable_state_holder,
        agent_desired_state: None,
        agent_desired_state_rx: desired_state_rx,
        is_converted_to_applicable_state: false,
        slot_aggregated_status: status,
    });
    Ok(())
}

/// Runs the registered services until SIGINT or SIGTERM, or until one of them ends (which ends
/// the others); an error when any of them failed.
async fn run(manager: ServiceManager) -> Result<()> {
    let shutdown = CancellationToken::new();
    let signal_shutdown = shutdown.clone();
    let mut sigterm = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    actix_rt::spawn(async move {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = sigterm.recv() => {}
        }
        signal_shutdown.cancel();
    });
    let running = manager.start(shutdown);
    running
        .run_to_completion(ServiceShutdownOptions::default())
        .await
        .into_result()?;
    Ok(())
}

fn main() -> Result<()> {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some((command, rest)) = args.split_first() else {
        bail!("usage: paddler balancer|agent --option value ... (see src/main.rs)");
    };
    let options = Options::parse(rest)?;
    let mut manager = ServiceManager::default();
    match command.as_str() {
        "balancer" => balancer(&options, &mut manager)?,
        "agent" => agent(&options, &mut manager)?,
        other => bail!("unknown command '{other}' (balancer or agent)"),
    }
    // Paddler's HTTP services are actix servers, which want an actix system around them.
    actix_rt::System::new().block_on(run(manager))
}
