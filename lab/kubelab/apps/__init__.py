# SPDX-License-Identifier: GPL-3.0-or-later
"""Small stdlib applications the lab's Deployments run."""
