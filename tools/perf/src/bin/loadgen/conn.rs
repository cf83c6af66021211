//! One HTTP/1.1 keep-alive connection, driven in the task that uses it: the request and
//! the connection are polled together, so an exchange costs no wake-up of another task.

use std::pin::Pin;

use http::Request;
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::client::conn::http1::{self, Connection, SendRequest};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

/// A connected client.
pub struct Conn {
    sender: SendRequest<Full<Bytes>>,
    driver: Pin<Box<Connection<TokioIo<TcpStream>, Full<Bytes>>>>,
}

impl Conn {
    /// Connects to `authority` (`host:port`) with `TCP_NODELAY`.
    pub async fn open(authority: &str) -> Result<Self, String> {
        let stream = TcpStream::connect(authority)
            .await
            .map_err(|e| format!("connect {authority}: {e}"))?;
        stream.set_nodelay(true).map_err(|e| e.to_string())?;
        let (sender, driver) = http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| format!("handshake: {e}"))?;
        Ok(Self {
            sender,
            driver: Box::pin(driver),
        })
    }

    /// Sends `request` and reads the whole answer: its status and body. After an error the
    /// connection must be dropped.
    pub async fn exchange(
        &mut self,
        request: Request<Full<Bytes>>,
    ) -> Result<(u16, Bytes), String> {
        let sender = &mut self.sender;
        let work = async move {
            sender
                .ready()
                .await
                .map_err(|e| format!("the connection closed: {e}"))?;
            let response = sender
                .send_request(request)
                .await
                .map_err(|e| format!("send: {e}"))?;
            let status = response.status().as_u16();
            let body = response
                .into_body()
                .collect()
                .await
                .map_err(|e| format!("read: {e}"))?;
            Ok((status, body.to_bytes()))
        };
        tokio::select! {
            biased;
            answer = work => answer,
            ended = &mut self.driver => Err(match ended {
                Ok(()) => "the server closed the connection".to_string(),
                Err(e) => format!("connection: {e}"),
            }),
        }
    }
}
