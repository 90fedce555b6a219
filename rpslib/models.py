"""The course's convolutional model for 28x28 Rock, Paper, Scissors images.

``CNN2`` is the model of the slides (from Godoy's "Deep Learning with PyTorch Step-by-Step",
chapter 6): two convolutional blocks (the featurizer) followed by two linear layers (the
classifier), with optional dropout in the classifier.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

# The image size CNN2 is built for: fc1's input size depends on it.
IMAGE_SHAPE = (3, 28, 28)


class CNN2(nn.Module):
    """Two convolutional blocks and a two-layer classifier for 3x28x28 images, 3 classes.

    Shapes of one image (n = ``n_feature``; a mini-batch adds a leading N)::

        featurizer:  3@28x28 -conv1-> n@26x26 -pool-> n@13x13 -conv2-> n@11x11 -pool-> n@5x5
                     -flatten-> n*5*5
        classifier:  n*5*5 -fc1-> 50 -fc2-> 3 logits

    With ``n_feature=5`` the model has 6,823 parameters.

    Args:
        n_feature: number of filters in each convolutional layer.
        p: dropout probability, applied before ``fc1`` and before ``fc2`` when ``p > 0``
            (and only in train mode, as every ``nn.Dropout``).

    Introduced in chapter 2.
    """

    def __init__(self, n_feature: int, p: float = 0.0) -> None:
        super().__init__()
        self.n_feature = n_feature
        self.p = p
        # The convolutional layers: 3x3 filters, no padding
        self.conv1 = nn.Conv2d(in_channels=3, out_channels=n_feature, kernel_size=3)
        self.conv2 = nn.Conv2d(in_channels=n_feature, out_channels=n_feature, kernel_size=3)
        # The linear layers. Where does 5 * 5 come from?
        # 28 -> conv 3x3 -> 26 -> pool 2 -> 13 -> conv 3x3 -> 11 -> pool 2 -> 5
        self.fc1 = nn.Linear(n_feature * 5 * 5, 50)
        self.fc2 = nn.Linear(50, 3)
        # One dropout layer, used twice (it has no parameters)
        self.drop = nn.Dropout(self.p)

    def featurizer(self, x: Tensor) -> Tensor:
        """Extract features: (N, 3, 28, 28) images -> (N, n_feature * 5 * 5)."""
        # First convolutional block
        # 3@28x28 -> n_feature@26x26 -> n_feature@13x13
        x = self.conv1(x)
        x = F.relu(x)
        x = F.max_pool2d(x, kernel_size=2)
        # Second convolutional block
        # n_feature@13x13 -> n_feature@11x11 -> n_feature@5x5
        x = self.conv2(x)
        x = F.relu(x)
        x = F.max_pool2d(x, kernel_size=2)
        # n_feature@5x5 -> n_feature * 5 * 5
        return torch.flatten(x, start_dim=1)

    def classifier(self, x: Tensor) -> Tensor:
        """Classify features: (N, n_feature * 5 * 5) -> (N, 3) logits."""
        # Hidden layer: n_feature * 5 * 5 -> 50
        if self.p > 0:
            x = self.drop(x)
        x = self.fc1(x)
        x = F.relu(x)
        # Output layer: 50 -> 3
        if self.p > 0:
            x = self.drop(x)
        return self.fc2(x)

    def forward(self, x: Tensor) -> Tensor:
        """Logits for a mini-batch of images: (N, 3, 28, 28) -> (N, 3).

        Raises:
            ValueError: if ``x`` is not a batch of 3x28x28 images.
        """
        _check_images(x)
        return self.classifier(self.featurizer(x))

    def extra_repr(self) -> str:
        """Shown in ``print(model)``: ``CNN2(n_feature=5, p=0.3, ...)``."""
        return f"n_feature={self.n_feature}, p={self.p}"


def _check_images(x: Tensor) -> None:
    """Raise a ValueError that explains the 5x5 unless ``x`` has shape (N, 3, 28, 28)."""
    if x.dim() == 4 and tuple(x.shape[1:]) == IMAGE_SHAPE:
        return
    why = (
        "fc1 expects n_feature*5*5 inputs because 28 -> conv 3x3 -> 26 -> pool 2 -> 13 "
        "-> conv 3x3 -> 11 -> pool 2 -> 5"
    )
    if x.dim() == 3:
        raise ValueError(
            f"expected a mini-batch of shape (N, 3, 28, 28), got one image of shape "
            f"{tuple(x.shape)}: use x.unsqueeze(0) to make a batch of one; {why}; see chapter 2"
        )
    if x.dim() != 4:
        raise ValueError(
            f"expected a mini-batch of shape (N, 3, 28, 28), got shape {tuple(x.shape)}: "
            f"{why}; see chapter 2"
        )
    got = "x".join(str(s) for s in x.shape[1:])
    raise ValueError(
        f"expected images of 3x28x28, got {got}: {why}; resize the images to 28x28 "
        f"(Resize(28)) and keep 3 (RGB) channels, see chapter 2"
    )
