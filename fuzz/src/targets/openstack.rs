//! Answers of Keystone and Glance, as `solum-image upload` and the agent's `heat` transport
//! read them.

use solum_edge::keystone::endpoint;
use solum_image::upload::glance;

/// A token answer (`POST /v3/auth/tokens`): the image endpoint `solum-image upload` looks for
/// and the orchestration endpoint the agent's `heat` transport looks for.
pub fn keystone(data: &[u8]) {
    let Ok(token) = glance::parse_answer("POST /v3/auth/tokens", data) else {
        return;
    };
    for region in [None, Some("RegionOne")] {
        endpoint(&token["token"]["catalog"], "image", "public", region);
        endpoint(
            &token["token"]["catalog"],
            "orchestration",
            "public",
            region,
        );
    }
}

/// Any Glance answer read as each call reads it, and the input as an error body.
pub fn glance(data: &[u8]) {
    glance::excerpt(&String::from_utf8_lossy(data));
    let Ok(v) = glance::parse_answer("GET /v2/images", data) else {
        return;
    };
    glance::created_id(&v);
    glance::import_methods_of(&v);
    glance::image_state(&v);
    for image in glance::images_of(&v) {
        glance::image_state(&image);
        glance::str_of(&image, "os_hash_value");
    }
}
