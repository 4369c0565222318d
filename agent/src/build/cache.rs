//! Deciding when nothing needs building: finding an image already built with a build key
//! (the key itself is computed by `workflow` before any container runs), and the ids of the
//! stack images that go into it.

use std::collections::HashMap;

use bollard::query_parameters::ListImagesOptionsBuilder;
use bollard::Docker;

use super::{BuildError, LABEL_APP, LABEL_BUILD_KEY};
use crate::config::StackConfig;

/// The image of `app` labelled with `key`, if one exists.
pub async fn find_cached(
    docker: &Docker,
    app: &str,
    key: &str,
) -> Result<Option<String>, BuildError> {
    let filters: HashMap<String, Vec<String>> = HashMap::from([(
        "label".to_string(),
        vec![
            format!("{LABEL_BUILD_KEY}={key}"),
            format!("{LABEL_APP}={app}"),
        ],
    )]);
    let images = docker
        .list_images(Some(
            ListImagesOptionsBuilder::new().filters(&filters).build(),
        ))
        .await?;
    Ok(images.into_iter().next().map(|i| i.id))
}

/// Ids of every image built for `app` (any release, any builder: they carry `solum.app`).
pub async fn app_images(docker: &Docker, app: &str) -> Result<Vec<String>, BuildError> {
    let filters: HashMap<String, Vec<String>> =
        HashMap::from([("label".to_string(), vec![format!("{LABEL_APP}={app}")])]);
    let images = docker
        .list_images(Some(
            ListImagesOptionsBuilder::new().filters(&filters).build(),
        ))
        .await?;
    Ok(images.into_iter().map(|i| i.id).collect())
}

/// Image ids of the two stack images; `StackMissing` names the one that is absent.
pub async fn stack_image_ids(
    docker: &Docker,
    stack: &StackConfig,
) -> Result<Vec<String>, BuildError> {
    let mut ids = Vec::new();
    for image in [&stack.build_image, &stack.run_image] {
        match docker.inspect_image(image).await {
            Ok(i) => ids.push(i.id.unwrap_or_default()),
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 404, ..
            }) => {
                return Err(BuildError::StackMissing {
                    image: image.clone(),
                })
            }
            Err(e) => return Err(e.into()),
        }
    }
    Ok(ids)
}
