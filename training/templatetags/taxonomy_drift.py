"""{% taxonomy_drift taxonomy version as drift %}: whether the serving model's labels still
match the taxonomy (training.selectors.taxonomy_drift), for the models page's warning."""

from django import template

from training import selectors

register = template.Library()


@register.simple_tag
def taxonomy_drift(taxonomy, version):
    return selectors.taxonomy_drift(taxonomy, version)
