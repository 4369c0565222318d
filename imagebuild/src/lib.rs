//! solum-image: diskimage-builder-style elements to images. (being written)
