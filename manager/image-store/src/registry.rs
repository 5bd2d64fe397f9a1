//! Pull and push over the OCI distribution spec, with the `oci-client`
//! crate doing the HTTP, token auth and chunked uploads. Every blob is
//! checked against its digest twice: by the client's verifying stream and
//! by the content store before it is committed.

use std::fs::File;
use std::io::{self, Read, Write};

use futures_util::StreamExt;
use oci_client::client::{ClientConfig, ClientProtocol};
use oci_client::secrets::RegistryAuth;
use oci_client::RegistryOperation;

use crate::digest::Digest;
use crate::meta::ImageRecord;
use crate::oci::{self, DocKind, Index, Manifest};
use crate::progress::{Progress, ProgressAction};
use crate::reference::Reference;
use crate::types::{ImageSummary, RegistryOptions};
use crate::{Error, ImageStore, Lease};

const ACCEPT: &[&str] = &[
    oci::OCI_MANIFEST,
    oci::OCI_INDEX,
    oci::DOCKER_MANIFEST,
    oci::DOCKER_LIST,
];

#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("{reference}: {source}")]
    Client {
        reference: String,
        source: oci_client::errors::OciDistributionError,
    },
    #[error("{reference}: registry sent manifest with digest {actual}, expected {expected}")]
    ManifestDigest {
        reference: String,
        expected: String,
        actual: Digest,
    },
    #[error("{reference}: {what}")]
    Invalid { reference: String, what: String },
    #[error("{0}: push needs a tag or digest")]
    NoTag(String),
}

fn client_err(
    reference: &str,
) -> impl FnOnce(oci_client::errors::OciDistributionError) -> RegistryError + '_ {
    move |source| RegistryError::Client {
        reference: reference.to_string(),
        source,
    }
}

fn client_for(opts: &RegistryOptions) -> oci_client::Client {
    // reqwest is built without a default TLS provider so no second crypto
    // library is linked; ring is installed here (a no-op if one is already).
    let _ = rustls::crypto::ring::default_provider().install_default();
    let protocol = if opts.plain_http {
        ClientProtocol::Http
    } else if opts.insecure_http_hosts.is_empty() {
        ClientProtocol::Https
    } else {
        ClientProtocol::HttpsExcept(opts.insecure_http_hosts.clone())
    };
    oci_client::Client::new(ClientConfig {
        protocol,
        extra_root_certificates: opts
            .ca_pems
            .iter()
            .map(|pem| oci_client::client::Certificate {
                encoding: oci_client::client::CertificateEncoding::Pem,
                data: pem.clone(),
            })
            .collect(),
        ..Default::default()
    })
}

/// Checks `opts.auth` against the registry `server` (`host[:port]`): the
/// token flow when the registry asks for one (a wrong password fails at
/// its token service), then one authenticated request, which a registry
/// doing basic auth answers 401 for wrong credentials.
pub async fn login(server: &str, opts: &RegistryOptions) -> Result<(), RegistryError> {
    let client = client_for(opts);
    let auth = auth_for(opts);
    let probe = format!("{server}/berth-login-probe:latest");
    let remote =
        oci_client::Reference::try_from(probe.clone()).map_err(|e| RegistryError::Invalid {
            reference: server.to_string(),
            what: e.to_string(),
        })?;
    client
        .auth(&remote, &auth, RegistryOperation::Pull)
        .await
        .map_err(client_err(server))?;
    match client.fetch_manifest_digest(&remote, &auth).await {
        Ok(_) => Ok(()),
        Err(e) => {
            use oci_client::errors::OciDistributionError as E;
            use oci_client::errors::OciErrorCode as C;
            let passed = match &e {
                // the probe repository does not exist: the credentials passed
                E::ImageManifestNotFoundError(_) | E::ServerError { code: 404, .. } => true,
                E::RegistryError { envelope, .. } => !envelope
                    .errors
                    .iter()
                    .any(|x| matches!(x.code, C::Unauthorized | C::Denied)),
                _ => false,
            };
            if passed {
                Ok(())
            } else {
                Err(client_err(server)(e))
            }
        }
    }
}

fn auth_for(opts: &RegistryOptions) -> RegistryAuth {
    match &opts.auth {
        Some((u, p)) => RegistryAuth::Basic(u.clone(), p.clone()),
        None => RegistryAuth::Anonymous,
    }
}

fn remote_ref(r: &Reference) -> Result<oci_client::Reference, RegistryError> {
    oci_client::Reference::try_from(r.to_string()).map_err(|e| RegistryError::Invalid {
        reference: r.to_string(),
        what: e.to_string(),
    })
}

impl ImageStore {
    /// Pulls `reference` (resolving an index to linux/amd64), verifying
    /// every blob, unpacking its layers, then naming it. Progress comes per
    /// layer. All-or-nothing: a failed pull leaves nothing new behind.
    ///
    /// Layers are unpacked on the calling task; run it on a multi-threaded
    /// runtime (or a dedicated thread) if that matters.
    pub async fn pull(
        &self,
        reference: &str,
        opts: &RegistryOptions,
        mut progress: impl FnMut(Progress) + Send,
    ) -> Result<ImageSummary, Error> {
        let r = Reference::parse(reference)?;
        let mut lease = Lease::new(self);
        let staged = self.fetch(&r, opts, &mut lease, &mut progress).await;
        let res = staged.and_then(|rec| {
            self.commit_images(&[(vec![r.to_string()], rec)], &mut lease, &mut progress)
        });
        match res {
            Ok(mut v) => Ok(v.remove(0)),
            Err(e) => {
                self.rollback(lease);
                Err(e)
            }
        }
    }

    async fn fetch(
        &self,
        r: &Reference,
        opts: &RegistryOptions,
        lease: &mut Lease<'_>,
        progress: &mut (impl FnMut(Progress) + Send),
    ) -> Result<ImageRecord, Error> {
        let name = r.to_string();
        let client = client_for(opts);
        let auth = auth_for(opts);
        let remote = remote_ref(r)?;
        let (mdigest, mdata, mtype, index) = {
            let (body, digest) = client
                .pull_manifest_raw(&remote, &auth, ACCEPT)
                .await
                .map_err(client_err(&name))?;
            let d = self.put_verified(&name, &body, &digest, r.digest())?;
            lease.add(d.as_str());
            match oci::doc_kind(&format!("{name}: manifest"), "", &body)? {
                DocKind::Manifest => (d, body.to_vec(), String::new(), None),
                DocKind::Index => {
                    let idx: Index = oci::parse(&format!("{name}: index"), &body)?;
                    let desc = oci::pick_platform(&d, &idx)?.clone();
                    let by_digest = remote_ref(&r.with_digest(desc.digest.clone()))?;
                    let (mbody, mdig) = client
                        .pull_manifest_raw(&by_digest, &auth, ACCEPT)
                        .await
                        .map_err(client_err(&name))?;
                    let md = self.put_verified(&name, &mbody, &mdig, Some(&desc.digest))?;
                    lease.add(md.as_str());
                    (md, mbody.to_vec(), desc.media_type.clone(), Some(d))
                }
            }
        };
        let m: Manifest = oci::parse(&format!("{name}: manifest {mdigest}"), &mdata)?;
        for l in &m.layers {
            progress(Progress::new(
                &l.digest,
                ProgressAction::Waiting,
                0,
                Some(l.size),
            ));
        }
        self.fetch_blob(&client, &remote, &name, &m.config, lease, &mut |_| {})
            .await?;
        for l in &m.layers {
            if !oci::is_layer_media_type(&l.media_type) {
                return Err(RegistryError::Invalid {
                    reference: name.clone(),
                    what: format!("layer {} has media type {:?}", l.digest, l.media_type),
                }
                .into());
            }
            self.fetch_blob(&client, &remote, &name, l, lease, progress)
                .await?;
        }
        self.record_for(&mdigest, &mtype, index)
    }

    /// Stores a manifest the registry sent, checking it hashes to what the
    /// registry said and to what was asked for.
    fn put_verified(
        &self,
        name: &str,
        body: &[u8],
        said: &str,
        wanted: Option<&Digest>,
    ) -> Result<Digest, Error> {
        let actual = Digest::of(body);
        for expected in [Some(said), wanted.map(Digest::as_str)]
            .into_iter()
            .flatten()
        {
            if expected != actual.as_str() {
                return Err(RegistryError::ManifestDigest {
                    reference: name.to_string(),
                    expected: expected.to_string(),
                    actual,
                }
                .into());
            }
        }
        Ok(self.content.put(body)?)
    }

    async fn fetch_blob(
        &self,
        client: &oci_client::Client,
        remote: &oci_client::Reference,
        name: &str,
        desc: &oci::Descriptor,
        lease: &mut Lease<'_>,
        progress: &mut (impl FnMut(Progress) + Send + ?Sized),
    ) -> Result<(), Error> {
        let d = &desc.digest;
        lease.add(d.as_str());
        let total = Some(desc.size);
        if self.content.exists(d) {
            progress(Progress::new(
                d,
                ProgressAction::AlreadyExists,
                desc.size,
                total,
            ));
            return Ok(());
        }
        let mut stream = client
            .pull_blob_stream(remote, d.as_str())
            .await
            .map_err(client_err(name))?
            .stream;
        let mut w = self.content.writer()?;
        let ioerr = |e: io::Error| Error::io(format!("{name}: download {d}"), e);
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(ioerr)?;
            w.write_all(&chunk).map_err(ioerr)?;
            if w.written() > desc.size {
                return Err(crate::ContentError::TooLarge(d.clone(), desc.size).into());
            }
            progress(Progress::new(
                d,
                ProgressAction::Downloading,
                w.written(),
                total,
            ));
        }
        progress(Progress::new(
            d,
            ProgressAction::Verifying,
            w.written(),
            total,
        ));
        w.commit(Some(d), Some(desc.size))?;
        Ok(())
    }

    /// Pushes the local image `reference` to the registry it names: every
    /// blob the registry lacks, then the manifest. Returns the manifest digest.
    pub async fn push(
        &self,
        reference: &str,
        opts: &RegistryOptions,
        mut progress: impl FnMut(Progress) + Send,
    ) -> Result<Digest, Error> {
        let resolved = self.resolve(reference)?;
        let r = match &resolved.name {
            Some(n) => Reference::parse(n)?,
            None => return Err(RegistryError::NoTag(reference.to_string()).into()),
        };
        let name = r.to_string();
        let rec = resolved.rec;
        let client = client_for(opts);
        let auth = auth_for(opts);
        let remote = remote_ref(&r)?;
        client
            .auth(&remote, &auth, RegistryOperation::Push)
            .await
            .map_err(client_err(&name))?;
        let mut blobs: Vec<Digest> = rec.layers.clone();
        blobs.push(rec.config.clone());
        for d in &rec.layers {
            let size = self.content.size(d)?;
            progress(Progress::new(d, ProgressAction::Waiting, 0, Some(size)));
        }
        for (i, d) in blobs.iter().enumerate() {
            let is_layer = i < rec.layers.len();
            let size = self.content.size(d)?;
            let exists = client
                .blob_exists(&remote, d.as_str())
                .await
                .map_err(client_err(&name))?;
            if exists {
                if is_layer {
                    progress(Progress::new(
                        d,
                        ProgressAction::AlreadyExists,
                        size,
                        Some(size),
                    ));
                }
                continue;
            }
            self.push_blob(&client, &remote, &name, d, size, &mut |n| {
                if is_layer {
                    progress(Progress::new(d, ProgressAction::Pushing, n, Some(size)));
                }
            })
            .await?;
            if is_layer {
                progress(Progress::new(d, ProgressAction::Pushed, size, Some(size)));
            }
        }
        let body = self.content.read(&rec.manifest, oci::MAX_DOCUMENT)?;
        let ct = rec.media_type.parse().map_err(|_| RegistryError::Invalid {
            reference: name.clone(),
            what: format!("media type {:?} is not a header value", rec.media_type),
        })?;
        client
            .push_manifest_raw(&remote, body, ct)
            .await
            .map_err(client_err(&name))?;
        Ok(rec.manifest)
    }

    /// `pull` for callers without an async runtime: runs it on a private
    /// current-thread runtime.
    pub fn pull_blocking(
        &self,
        reference: &str,
        opts: &RegistryOptions,
        progress: impl FnMut(Progress) + Send,
    ) -> Result<ImageSummary, Error> {
        runtime()?.block_on(self.pull(reference, opts, progress))
    }

    /// `push` for callers without an async runtime.
    pub fn push_blocking(
        &self,
        reference: &str,
        opts: &RegistryOptions,
        progress: impl FnMut(Progress) + Send,
    ) -> Result<Digest, Error> {
        runtime()?.block_on(self.push(reference, opts, progress))
    }

    /// Streams one blob up in chunks, reporting bytes sent.
    async fn push_blob(
        &self,
        client: &oci_client::Client,
        remote: &oci_client::Reference,
        name: &str,
        d: &Digest,
        size: u64,
        sent: &mut (dyn FnMut(u64) + Send),
    ) -> Result<(), Error> {
        let f = self.content.open_blob(d)?;
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<u64>();
        let chunks = futures_util::stream::unfold((f, tx, 0u64), |(mut f, tx, done)| async move {
            let mut buf = vec![0u8; 4 << 20];
            match read_full(&mut f, &mut buf) {
                Ok(0) => None,
                Ok(n) => {
                    buf.truncate(n);
                    let _ = tx.send(done + n as u64);
                    Some((Ok(bytes::Bytes::from(buf)), (f, tx, done + n as u64)))
                }
                Err(e) => Some((
                    Err(oci_client::errors::OciDistributionError::IoError(e)),
                    (f, tx, done),
                )),
            }
        });
        let push = client.push_blob_stream(remote, chunks, d.as_str(), Some(size));
        tokio::pin!(push);
        loop {
            tokio::select! {
                res = &mut push => {
                    res.map_err(client_err(name))?;
                    break;
                }
                Some(n) = rx.recv() => sent(n),
            }
        }
        Ok(())
    }
}

fn runtime() -> Result<tokio::runtime::Runtime, Error> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::io("start the registry client's runtime", e))
}

fn read_full(f: &mut File, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match f.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}
